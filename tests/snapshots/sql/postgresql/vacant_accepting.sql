-- vacant_accepting (snapshot): at=2026-03-15T09:30:00+00:00 from=None to=None grain=None by=hwb
SELECT 0 AS k,
  s.hwb_code AS d_hwb,
  sum(r.vacant_accepting) AS value,
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

-- vacant_accepting (snapshot): at=2026-03-15T09:30:00+00:00 from=2026-02-22 to=2026-03-01 grain=day by=hwb
SELECT p.k AS k,
  s.hwb_code AS d_hwb,
  sum(r.vacant_accepting) AS value,
  NULL AS num,
  NULL AS den,
  (SELECT max(ingest_run.run_id) AS max_1
FROM ingest_run
WHERE ingest_run.status IN (__[POSTCOMPILE_status_1])) AS data_version
FROM (VALUES (%(p0_k)s::INTEGER, %(p0_p_at)s::TIMESTAMP WITHOUT TIME ZONE), (%(p1_k)s::INTEGER, %(p1_p_at)s::TIMESTAMP WITHOUT TIME ZONE), (%(p2_k)s::INTEGER, %(p2_p_at)s::TIMESTAMP WITHOUT TIME ZONE), (%(p3_k)s::INTEGER, %(p3_p_at)s::TIMESTAMP WITHOUT TIME ZONE), (%(p4_k)s::INTEGER, %(p4_p_at)s::TIMESTAMP WITHOUT TIME ZONE), (%(p5_k)s::INTEGER, %(p5_p_at)s::TIMESTAMP WITHOUT TIME ZONE), (%(p6_k)s::INTEGER, %(p6_p_at)s::TIMESTAMP WITHOUT TIME ZONE)) AS p (k, p_at)
JOIN service AS s ON s.first_reported_at <= p.p_at
LEFT OUTER JOIN (SELECT 0 AS k,
  capacity_report.service_id AS service_id,
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
GROUP BY capacity_report.service_id
UNION ALL SELECT 1 AS k,
  capacity_report.service_id AS service_id,
  (array_agg(capacity_report.capacity
ORDER BY capacity_report.reported_at DESC))[1] AS capacity,
  (array_agg(capacity_report.occupied
ORDER BY capacity_report.reported_at DESC))[1] AS occupied,
  (array_agg(capacity_report.vacant_accepting
ORDER BY capacity_report.reported_at DESC))[1] AS vacant_accepting,
  (array_agg(capacity_report.vacant_reserved
ORDER BY capacity_report.reported_at DESC))[1] AS vacant_reserved
FROM capacity_report
WHERE capacity_report.reported_at >= %(p1_stale_from)s::TIMESTAMP WITHOUT TIME ZONE AND capacity_report.reported_at <= %(p1_p_at)s::TIMESTAMP WITHOUT TIME ZONE
GROUP BY capacity_report.service_id
UNION ALL SELECT 2 AS k,
  capacity_report.service_id AS service_id,
  (array_agg(capacity_report.capacity
ORDER BY capacity_report.reported_at DESC))[1] AS capacity,
  (array_agg(capacity_report.occupied
ORDER BY capacity_report.reported_at DESC))[1] AS occupied,
  (array_agg(capacity_report.vacant_accepting
ORDER BY capacity_report.reported_at DESC))[1] AS vacant_accepting,
  (array_agg(capacity_report.vacant_reserved
ORDER BY capacity_report.reported_at DESC))[1] AS vacant_reserved
FROM capacity_report
WHERE capacity_report.reported_at >= %(p2_stale_from)s::TIMESTAMP WITHOUT TIME ZONE AND capacity_report.reported_at <= %(p2_p_at)s::TIMESTAMP WITHOUT TIME ZONE
GROUP BY capacity_report.service_id
UNION ALL SELECT 3 AS k,
  capacity_report.service_id AS service_id,
  (array_agg(capacity_report.capacity
ORDER BY capacity_report.reported_at DESC))[1] AS capacity,
  (array_agg(capacity_report.occupied
ORDER BY capacity_report.reported_at DESC))[1] AS occupied,
  (array_agg(capacity_report.vacant_accepting
ORDER BY capacity_report.reported_at DESC))[1] AS vacant_accepting,
  (array_agg(capacity_report.vacant_reserved
ORDER BY capacity_report.reported_at DESC))[1] AS vacant_reserved
FROM capacity_report
WHERE capacity_report.reported_at >= %(p3_stale_from)s::TIMESTAMP WITHOUT TIME ZONE AND capacity_report.reported_at <= %(p3_p_at)s::TIMESTAMP WITHOUT TIME ZONE
GROUP BY capacity_report.service_id
UNION ALL SELECT 4 AS k,
  capacity_report.service_id AS service_id,
  (array_agg(capacity_report.capacity
ORDER BY capacity_report.reported_at DESC))[1] AS capacity,
  (array_agg(capacity_report.occupied
ORDER BY capacity_report.reported_at DESC))[1] AS occupied,
  (array_agg(capacity_report.vacant_accepting
ORDER BY capacity_report.reported_at DESC))[1] AS vacant_accepting,
  (array_agg(capacity_report.vacant_reserved
ORDER BY capacity_report.reported_at DESC))[1] AS vacant_reserved
FROM capacity_report
WHERE capacity_report.reported_at >= %(p4_stale_from)s::TIMESTAMP WITHOUT TIME ZONE AND capacity_report.reported_at <= %(p4_p_at)s::TIMESTAMP WITHOUT TIME ZONE
GROUP BY capacity_report.service_id
UNION ALL SELECT 5 AS k,
  capacity_report.service_id AS service_id,
  (array_agg(capacity_report.capacity
ORDER BY capacity_report.reported_at DESC))[1] AS capacity,
  (array_agg(capacity_report.occupied
ORDER BY capacity_report.reported_at DESC))[1] AS occupied,
  (array_agg(capacity_report.vacant_accepting
ORDER BY capacity_report.reported_at DESC))[1] AS vacant_accepting,
  (array_agg(capacity_report.vacant_reserved
ORDER BY capacity_report.reported_at DESC))[1] AS vacant_reserved
FROM capacity_report
WHERE capacity_report.reported_at >= %(p5_stale_from)s::TIMESTAMP WITHOUT TIME ZONE AND capacity_report.reported_at <= %(p5_p_at)s::TIMESTAMP WITHOUT TIME ZONE
GROUP BY capacity_report.service_id
UNION ALL SELECT 6 AS k,
  capacity_report.service_id AS service_id,
  (array_agg(capacity_report.capacity
ORDER BY capacity_report.reported_at DESC))[1] AS capacity,
  (array_agg(capacity_report.occupied
ORDER BY capacity_report.reported_at DESC))[1] AS occupied,
  (array_agg(capacity_report.vacant_accepting
ORDER BY capacity_report.reported_at DESC))[1] AS vacant_accepting,
  (array_agg(capacity_report.vacant_reserved
ORDER BY capacity_report.reported_at DESC))[1] AS vacant_reserved
FROM capacity_report
WHERE capacity_report.reported_at >= %(p6_stale_from)s::TIMESTAMP WITHOUT TIME ZONE AND capacity_report.reported_at <= %(p6_p_at)s::TIMESTAMP WITHOUT TIME ZONE
GROUP BY capacity_report.service_id) AS r ON r.k = p.k AND r.service_id = s.service_id
WHERE r.service_id IS NOT NULL
GROUP BY p.k, s.hwb_code

-- fixed parameters:
--   status_1 = ['ok', 'partial']

-- vacant_accepting (snapshot): at=2026-03-15T09:30:00+00:00 from=2026-02-22 to=2026-03-01 grain=day by=hwb (compiled as a long series)
SELECT p.k AS k,
  s.hwb_code AS d_hwb,
  sum(r.vacant_accepting) AS value,
  NULL AS num,
  NULL AS den,
  (SELECT max(ingest_run.run_id) AS max_1
FROM ingest_run
WHERE ingest_run.status IN (__[POSTCOMPILE_status_1])) AS data_version
FROM (VALUES (%(p0_k)s::INTEGER, %(p0_p_at)s::TIMESTAMP WITHOUT TIME ZONE, %(p0_stale_from)s::TIMESTAMP WITHOUT TIME ZONE), (%(p1_k)s::INTEGER, %(p1_p_at)s::TIMESTAMP WITHOUT TIME ZONE, %(p1_stale_from)s::TIMESTAMP WITHOUT TIME ZONE), (%(p2_k)s::INTEGER, %(p2_p_at)s::TIMESTAMP WITHOUT TIME ZONE, %(p2_stale_from)s::TIMESTAMP WITHOUT TIME ZONE), (%(p3_k)s::INTEGER, %(p3_p_at)s::TIMESTAMP WITHOUT TIME ZONE, %(p3_stale_from)s::TIMESTAMP WITHOUT TIME ZONE), (%(p4_k)s::INTEGER, %(p4_p_at)s::TIMESTAMP WITHOUT TIME ZONE, %(p4_stale_from)s::TIMESTAMP WITHOUT TIME ZONE), (%(p5_k)s::INTEGER, %(p5_p_at)s::TIMESTAMP WITHOUT TIME ZONE, %(p5_stale_from)s::TIMESTAMP WITHOUT TIME ZONE), (%(p6_k)s::INTEGER, %(p6_p_at)s::TIMESTAMP WITHOUT TIME ZONE, %(p6_stale_from)s::TIMESTAMP WITHOUT TIME ZONE)) AS p (k, p_at, stale_from)
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
  (array_agg(t.capacity
ORDER BY t.reported_at DESC))[1] AS capacity,
  (array_agg(t.occupied
ORDER BY t.reported_at DESC))[1] AS occupied,
  (array_agg(t.vacant_accepting
ORDER BY t.reported_at DESC))[1] AS vacant_accepting,
  (array_agg(t.vacant_reserved
ORDER BY t.reported_at DESC))[1] AS vacant_reserved,
  max(t.reported_at) AS reported_at,
  lead(t.b) OVER (PARTITION BY t.service_id
ORDER BY t.b) AS next_b
FROM (SELECT capacity_report.service_id AS service_id,
  capacity_report.reported_at AS reported_at,
  capacity_report.capacity AS capacity,
  capacity_report.occupied AS occupied,
  capacity_report.vacant_accepting AS vacant_accepting,
  capacity_report.vacant_reserved AS vacant_reserved,
  CASE WHEN (capacity_report.reported_at <= %(p3_p_at)s::TIMESTAMP WITHOUT TIME ZONE) THEN CASE WHEN (capacity_report.reported_at <= %(p0_p_at)s::TIMESTAMP WITHOUT TIME ZONE) THEN 0 WHEN (capacity_report.reported_at <= %(p1_p_at)s::TIMESTAMP WITHOUT TIME ZONE) THEN 1 WHEN (capacity_report.reported_at <= %(p2_p_at)s::TIMESTAMP WITHOUT TIME ZONE) THEN 2 ELSE 3 END ELSE CASE WHEN (capacity_report.reported_at <= %(p4_p_at)s::TIMESTAMP WITHOUT TIME ZONE) THEN 4 WHEN (capacity_report.reported_at <= %(p5_p_at)s::TIMESTAMP WITHOUT TIME ZONE) THEN 5 WHEN (capacity_report.reported_at <= %(p6_p_at)s::TIMESTAMP WITHOUT TIME ZONE) THEN 6 ELSE 7 END END AS b
FROM capacity_report
WHERE capacity_report.reported_at >= %(p0_stale_from)s::TIMESTAMP WITHOUT TIME ZONE AND capacity_report.reported_at <= %(p6_p_at)s::TIMESTAMP WITHOUT TIME ZONE) AS t
GROUP BY t.service_id, t.b) AS g
JOIN (VALUES (0), (1)) AS o (o) ON true
WHERE g.b + o.o < 7 AND (g.next_b IS NULL OR g.b + o.o < g.next_b)) AS r ON r.k = p.k AND r.service_id = s.service_id AND r.reported_at >= p.stale_from
WHERE r.service_id IS NOT NULL
GROUP BY p.k, s.hwb_code

-- fixed parameters:
--   status_1 = ['ok', 'partial']
