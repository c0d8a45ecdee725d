-- sitrep_discharges_by_pathway (period): at=2026-03-15T09:30:00+00:00 from=2026-02-01 to=2026-03-01 grain=day by=level
SELECT p.k AS k,
  v.level AS d_level,
  sum(v.value) AS value,
  NULL AS num,
  NULL AS den,
  (SELECT max(ingest_run.run_id) AS max_1
FROM ingest_run
WHERE ingest_run.status IN (__[POSTCOMPILE_status_1])) AS data_version
FROM (VALUES (%(p0_k)s::INTEGER, %(p0_start_date)s::DATE, %(p0_end_date)s::DATE), (%(p1_k)s::INTEGER, %(p1_start_date)s::DATE, %(p1_end_date)s::DATE), (%(p2_k)s::INTEGER, %(p2_start_date)s::DATE, %(p2_end_date)s::DATE), (%(p3_k)s::INTEGER, %(p3_start_date)s::DATE, %(p3_end_date)s::DATE), (%(p4_k)s::INTEGER, %(p4_start_date)s::DATE, %(p4_end_date)s::DATE), (%(p5_k)s::INTEGER, %(p5_start_date)s::DATE, %(p5_end_date)s::DATE), (%(p6_k)s::INTEGER, %(p6_start_date)s::DATE, %(p6_end_date)s::DATE), (%(p7_k)s::INTEGER, %(p7_start_date)s::DATE, %(p7_end_date)s::DATE), (%(p8_k)s::INTEGER, %(p8_start_date)s::DATE, %(p8_end_date)s::DATE), (%(p9_k)s::INTEGER, %(p9_start_date)s::DATE, %(p9_end_date)s::DATE), (%(p10_k)s::INTEGER, %(p10_start_date)s::DATE, %(p10_end_date)s::DATE), (%(p11_k)s::INTEGER, %(p11_start_date)s::DATE, %(p11_end_date)s::DATE), (%(p12_k)s::INTEGER, %(p12_start_date)s::DATE, %(p12_end_date)s::DATE), (%(p13_k)s::INTEGER, %(p13_start_date)s::DATE, %(p13_end_date)s::DATE), (%(p14_k)s::INTEGER, %(p14_start_date)s::DATE, %(p14_end_date)s::DATE), (%(p15_k)s::INTEGER, %(p15_start_date)s::DATE, %(p15_end_date)s::DATE), (%(p16_k)s::INTEGER, %(p16_start_date)s::DATE, %(p16_end_date)s::DATE), (%(p17_k)s::INTEGER, %(p17_start_date)s::DATE, %(p17_end_date)s::DATE), (%(p18_k)s::INTEGER, %(p18_start_date)s::DATE, %(p18_end_date)s::DATE), (%(p19_k)s::INTEGER, %(p19_start_date)s::DATE, %(p19_end_date)s::DATE), (%(p20_k)s::INTEGER, %(p20_start_date)s::DATE, %(p20_end_date)s::DATE), (%(p21_k)s::INTEGER, %(p21_start_date)s::DATE, %(p21_end_date)s::DATE), (%(p22_k)s::INTEGER, %(p22_start_date)s::DATE, %(p22_end_date)s::DATE), (%(p23_k)s::INTEGER, %(p23_start_date)s::DATE, %(p23_end_date)s::DATE), (%(p24_k)s::INTEGER, %(p24_start_date)s::DATE, %(p24_end_date)s::DATE), (%(p25_k)s::INTEGER, %(p25_start_date)s::DATE, %(p25_end_date)s::DATE), (%(p26_k)s::INTEGER, %(p26_start_date)s::DATE, %(p26_end_date)s::DATE), (%(p27_k)s::INTEGER, %(p27_start_date)s::DATE, %(p27_end_date)s::DATE)) AS p (k, start_date, end_date)
JOIN sitrep_value AS v ON v.period_date >= p.start_date AND v.period_date < p.end_date
WHERE v.feed IN (__[POSTCOMPILE_feeds]) AND (v.measure LIKE %(measure_1)s::VARCHAR || '%%')
GROUP BY p.k, v.level

-- fixed parameters:
--   measure_1 = 'discharges_'
--   status_1 = ['ok', 'partial']
