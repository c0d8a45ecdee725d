-- unavailable (snapshot): at=2026-03-15T09:30:00+00:00 from=None to=None grain=None by=hwb
SELECT 0 AS k,
  s.hwb_code AS d_hwb,
  sum(((r.capacity - r.occupied) - r.vacant_accepting) - r.vacant_reserved) AS value,
  NULL AS num,
  NULL AS den,
  (SELECT max(ingest_run.run_id) AS max_1
FROM ingest_run
WHERE ingest_run.status IN (__[POSTCOMPILE_status_1])) AS data_version
FROM service AS s
LEFT OUTER JOIN (SELECT capacity_report.service_id AS service_id,
  (array_agg(capacity_report.capacity
ORDER BY capacity_report.reported_at DESC))[1] AS capacity,
  (array_agg(capacity_report.occupied
ORDER BY capacity_report.reported_at DESC))[1] AS occupied,
  (array_agg(capacity_report.vacant_accepting
ORDER BY capacity_report.reported_at DESC))[1] AS vacant_accepting,
  (array_agg(capacity_report.vacant_reserved
ORDER BY capacity_report.reported_at DESC))[1] AS vacant_reserved
FROM capacity_report
WHERE capacity_report.reported_at >= %(p0_stale_from)s::TIMESTAMP WITHOUT TIME ZONE AND capacity_report.reported_at <= %(p0_p_at)s::TIMESTAMP WITHOUT TIME ZONE
GROUP BY capacity_report.service_id) AS r ON r.service_id = s.service_id
WHERE r.service_id IS NOT NULL AND s.first_reported_at <= %(p0_p_at)s::TIMESTAMP WITHOUT TIME ZONE
GROUP BY s.hwb_code

-- fixed parameters:
--   status_1 = ['ok', 'partial']
