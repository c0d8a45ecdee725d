-- occupied (snapshot): at=2026-03-15T09:30:00+00:00 from=None to=None grain=None by=hwb
SELECT 0 AS k,
  s.hwb_code AS d_hwb,
  sum(r.occupied) AS value,
  NULL AS num,
  NULL AS den,
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

-- occupied (snapshot): at=2026-03-15T09:30:00+00:00 from=2026-02-22 to=2026-03-01 grain=day by=hwb
SELECT p.k AS k,
  s.hwb_code AS d_hwb,
  sum(r.occupied) AS value,
  NULL AS num,
  NULL AS den,
  (SELECT max(ingest_run.run_id) AS max_1
FROM ingest_run
WHERE ingest_run.status IN (__[POSTCOMPILE_status_1])) AS data_version
FROM (VALUES ($1, $2), ($3, $4), ($5, $6), ($7, $8), ($9, $10), ($11, $12), ($13, $14)) AS p (k, p_at)
JOIN service AS s ON s.first_reported_at <= p.p_at
LEFT OUTER JOIN (SELECT 0 AS k,
  capacity_report.service_id AS service_id,
  arg_max(capacity_report.capacity, capacity_report.reported_at) AS capacity,
  arg_max(capacity_report.occupied, capacity_report.reported_at) AS occupied,
  arg_max(capacity_report.vacant_accepting, capacity_report.reported_at) AS vacant_accepting,
  arg_max(capacity_report.vacant_reserved, capacity_report.reported_at) AS vacant_reserved
FROM capacity_report
WHERE capacity_report.reported_at >= $15 AND capacity_report.reported_at <= $2
GROUP BY capacity_report.service_id
UNION ALL SELECT 1 AS k,
  capacity_report.service_id AS service_id,
  arg_max(capacity_report.capacity, capacity_report.reported_at) AS capacity,
  arg_max(capacity_report.occupied, capacity_report.reported_at) AS occupied,
  arg_max(capacity_report.vacant_accepting, capacity_report.reported_at) AS vacant_accepting,
  arg_max(capacity_report.vacant_reserved, capacity_report.reported_at) AS vacant_reserved
FROM capacity_report
WHERE capacity_report.reported_at >= $16 AND capacity_report.reported_at <= $4
GROUP BY capacity_report.service_id
UNION ALL SELECT 2 AS k,
  capacity_report.service_id AS service_id,
  arg_max(capacity_report.capacity, capacity_report.reported_at) AS capacity,
  arg_max(capacity_report.occupied, capacity_report.reported_at) AS occupied,
  arg_max(capacity_report.vacant_accepting, capacity_report.reported_at) AS vacant_accepting,
  arg_max(capacity_report.vacant_reserved, capacity_report.reported_at) AS vacant_reserved
FROM capacity_report
WHERE capacity_report.reported_at >= $17 AND capacity_report.reported_at <= $6
GROUP BY capacity_report.service_id
UNION ALL SELECT 3 AS k,
  capacity_report.service_id AS service_id,
  arg_max(capacity_report.capacity, capacity_report.reported_at) AS capacity,
  arg_max(capacity_report.occupied, capacity_report.reported_at) AS occupied,
  arg_max(capacity_report.vacant_accepting, capacity_report.reported_at) AS vacant_accepting,
  arg_max(capacity_report.vacant_reserved, capacity_report.reported_at) AS vacant_reserved
FROM capacity_report
WHERE capacity_report.reported_at >= $18 AND capacity_report.reported_at <= $8
GROUP BY capacity_report.service_id
UNION ALL SELECT 4 AS k,
  capacity_report.service_id AS service_id,
  arg_max(capacity_report.capacity, capacity_report.reported_at) AS capacity,
  arg_max(capacity_report.occupied, capacity_report.reported_at) AS occupied,
  arg_max(capacity_report.vacant_accepting, capacity_report.reported_at) AS vacant_accepting,
  arg_max(capacity_report.vacant_reserved, capacity_report.reported_at) AS vacant_reserved
FROM capacity_report
WHERE capacity_report.reported_at >= $19 AND capacity_report.reported_at <= $10
GROUP BY capacity_report.service_id
UNION ALL SELECT 5 AS k,
  capacity_report.service_id AS service_id,
  arg_max(capacity_report.capacity, capacity_report.reported_at) AS capacity,
  arg_max(capacity_report.occupied, capacity_report.reported_at) AS occupied,
  arg_max(capacity_report.vacant_accepting, capacity_report.reported_at) AS vacant_accepting,
  arg_max(capacity_report.vacant_reserved, capacity_report.reported_at) AS vacant_reserved
FROM capacity_report
WHERE capacity_report.reported_at >= $20 AND capacity_report.reported_at <= $12
GROUP BY capacity_report.service_id
UNION ALL SELECT 6 AS k,
  capacity_report.service_id AS service_id,
  arg_max(capacity_report.capacity, capacity_report.reported_at) AS capacity,
  arg_max(capacity_report.occupied, capacity_report.reported_at) AS occupied,
  arg_max(capacity_report.vacant_accepting, capacity_report.reported_at) AS vacant_accepting,
  arg_max(capacity_report.vacant_reserved, capacity_report.reported_at) AS vacant_reserved
FROM capacity_report
WHERE capacity_report.reported_at >= $21 AND capacity_report.reported_at <= $14
GROUP BY capacity_report.service_id) AS r ON r.k = p.k AND r.service_id = s.service_id
WHERE r.service_id IS NOT NULL
GROUP BY p.k, s.hwb_code

-- fixed parameters:
--   status_1 = ['ok', 'partial']
-- positional parameters:
--   $1 p0_k
--   $2 p0_p_at
--   $3 p1_k
--   $4 p1_p_at
--   $5 p2_k
--   $6 p2_p_at
--   $7 p3_k
--   $8 p3_p_at
--   $9 p4_k
--   $10 p4_p_at
--   $11 p5_k
--   $12 p5_p_at
--   $13 p6_k
--   $14 p6_p_at
--   $15 p0_stale_from
--   $16 p1_stale_from
--   $17 p2_stale_from
--   $18 p3_stale_from
--   $19 p4_stale_from
--   $20 p5_stale_from
--   $21 p6_stale_from

-- occupied (snapshot): at=2026-03-15T09:30:00+00:00 from=2026-02-22 to=2026-03-01 grain=day by=hwb (compiled as a long series)
SELECT p.k AS k,
  s.hwb_code AS d_hwb,
  sum(r.occupied) AS value,
  NULL AS num,
  NULL AS den,
  (SELECT max(ingest_run.run_id) AS max_1
FROM ingest_run
WHERE ingest_run.status IN (__[POSTCOMPILE_status_1])) AS data_version
FROM (VALUES ($1, $2, $3), ($4, $5, $6), ($7, $8, $9), ($10, $11, $12), ($13, $14, $15), ($16, $17, $18), ($19, $20, $21)) AS p (k, p_at, stale_from)
JOIN service AS s ON s.first_reported_at <= p.p_at
LEFT OUTER JOIN (SELECT g.b + o.o AS k,
  g.service_id AS service_id,
  g.capacity AS capacity,
  g.occupied AS occupied,
  g.vacant_accepting AS vacant_accepting,
  g.vacant_reserved AS vacant_reserved,
  g.reported_at AS reported_at
FROM (SELECT t.service_id AS service_id,
  t.b AS b,
  arg_max(t.capacity, t.reported_at) AS capacity,
  arg_max(t.occupied, t.reported_at) AS occupied,
  arg_max(t.vacant_accepting, t.reported_at) AS vacant_accepting,
  arg_max(t.vacant_reserved, t.reported_at) AS vacant_reserved,
  max(t.reported_at) AS reported_at,
  lead(t.b) OVER (PARTITION BY t.service_id
ORDER BY t.b) AS next_b
FROM (SELECT capacity_report.service_id AS service_id,
  capacity_report.reported_at AS reported_at,
  capacity_report.capacity AS capacity,
  capacity_report.occupied AS occupied,
  capacity_report.vacant_accepting AS vacant_accepting,
  capacity_report.vacant_reserved AS vacant_reserved,
  CASE WHEN (capacity_report.reported_at <= $11) THEN CASE WHEN (capacity_report.reported_at <= $2) THEN 0 WHEN (capacity_report.reported_at <= $5) THEN 1 WHEN (capacity_report.reported_at <= $8) THEN 2 ELSE 3 END ELSE CASE WHEN (capacity_report.reported_at <= $14) THEN 4 WHEN (capacity_report.reported_at <= $17) THEN 5 WHEN (capacity_report.reported_at <= $20) THEN 6 ELSE 7 END END AS b
FROM capacity_report
WHERE capacity_report.reported_at >= $3 AND capacity_report.reported_at <= $20) AS t
GROUP BY t.service_id, t.b) AS g
JOIN (VALUES (0), (1)) AS o (o) ON true
WHERE g.b + o.o < 7 AND (g.next_b IS NULL OR g.b + o.o < g.next_b)) AS r ON r.k = p.k AND r.service_id = s.service_id AND r.reported_at >= p.stale_from
WHERE r.service_id IS NOT NULL
GROUP BY p.k, s.hwb_code

-- fixed parameters:
--   status_1 = ['ok', 'partial']
-- positional parameters:
--   $1 p0_k
--   $2 p0_p_at
--   $3 p0_stale_from
--   $4 p1_k
--   $5 p1_p_at
--   $6 p1_stale_from
--   $7 p2_k
--   $8 p2_p_at
--   $9 p2_stale_from
--   $10 p3_k
--   $11 p3_p_at
--   $12 p3_stale_from
--   $13 p4_k
--   $14 p4_p_at
--   $15 p4_stale_from
--   $16 p5_k
--   $17 p5_p_at
--   $18 p5_stale_from
--   $19 p6_k
--   $20 p6_p_at
--   $21 p6_stale_from
