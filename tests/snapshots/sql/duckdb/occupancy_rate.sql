-- occupancy_rate (snapshot): at=2026-03-15T09:30:00+00:00 from=None to=None grain=None by=hwb
SELECT 0 AS k,
  s.hwb_code AS d_hwb,
  NULL AS value,
  sum(r.occupied) AS num,
  sum(r.occupied + r.vacant_accepting + r.vacant_reserved) AS den,
  (SELECT max(ingest_run.run_id) AS max_1
FROM ingest_run
WHERE ingest_run.status IN (__[POSTCOMPILE_status_1])) AS data_version
FROM service AS s
LEFT OUTER JOIN (SELECT capacity_report.service_id AS service_id,
  arg_max(capacity_report.capacity, capacity_report.reported_at) AS capacity,
  arg_max(capacity_report.occupied, capacity_report.reported_at) AS occupied,
  arg_max(capacity_report.vacant_accepting, capacity_report.reported_at) AS vacant_accepting,
  arg_max(capacity_report.vacant_reserved, capacity_report.reported_at) AS vacant_reserved
FROM capacity_report
WHERE capacity_report.reported_at >= $1 AND capacity_report.reported_at <= $2
GROUP BY capacity_report.service_id) AS r ON r.service_id = s.service_id
WHERE r.service_id IS NOT NULL AND s.first_reported_at <= $2
GROUP BY s.hwb_code

-- fixed parameters:
--   status_1 = ['ok', 'partial']
-- positional parameters:
--   $1 p0_stale_from
--   $2 p0_p_at
