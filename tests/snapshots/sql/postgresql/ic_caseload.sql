-- ic_caseload (snapshot): at=2026-03-15T09:30:00+00:00 from=None to=None grain=None by=hwb
SELECT 0 AS k,
  c.hwb_code AS d_hwb,
  count(*) AS value,
  NULL AS num,
  NULL AS den,
  (SELECT max(ingest_run.run_id) AS max_1
FROM ingest_run
WHERE ingest_run.status IN (__[POSTCOMPILE_status_1])) AS data_version
FROM hub_case AS c
WHERE c.ic_started_at <= %(p0_p_at)s::TIMESTAMP WITHOUT TIME ZONE AND (c.ic_ended_at IS NULL OR c.ic_ended_at > %(p0_p_at)s::TIMESTAMP WITHOUT TIME ZONE)
GROUP BY c.hwb_code

-- fixed parameters:
--   status_1 = ['ok', 'partial']
