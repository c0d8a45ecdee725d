-- awaiting_pathway (snapshot): at=2026-03-15T09:30:00+00:00 from=None to=None grain=None by=hwb
SELECT 0 AS k,
  c.hwb_code AS d_hwb,
  count(*) AS value,
  NULL AS num,
  NULL AS den,
  (SELECT max(ingest_run.run_id) AS max_1
FROM ingest_run
WHERE ingest_run.status IN (__[POSTCOMPILE_status_1])) AS data_version
FROM hub_case AS c
WHERE c.referred_at <= %(p0_p_at)s::TIMESTAMP WITHOUT TIME ZONE AND (c.pathway_decided_at IS NULL OR c.pathway_decided_at > %(p0_p_at)s::TIMESTAMP WITHOUT TIME ZONE) AND (c.discharged_at IS NULL OR c.discharged_at > %(p0_p_at)s::TIMESTAMP WITHOUT TIME ZONE)
GROUP BY c.hwb_code

-- fixed parameters:
--   status_1 = ['ok', 'partial']
