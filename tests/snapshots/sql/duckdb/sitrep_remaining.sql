-- sitrep_remaining (period): at=2026-03-15T09:30:00+00:00 from=2026-02-01 to=2026-03-01 grain=day by=level
SELECT p.k AS k,
  v.level AS d_level,
  NULL AS value,
  sum(v.value) AS num,
  count(DISTINCT CASE WHEN (v.value IS NOT NULL) THEN v.period_date END) AS den,
  (SELECT max(ingest_run.run_id) AS max_1
FROM ingest_run
WHERE ingest_run.status IN (__[POSTCOMPILE_status_1])) AS data_version
FROM (VALUES ($1, $2, $3), ($4, $5, $6), ($7, $8, $9), ($10, $11, $12), ($13, $14, $15), ($16, $17, $18), ($19, $20, $21), ($22, $23, $24), ($25, $26, $27), ($28, $29, $30), ($31, $32, $33), ($34, $35, $36), ($37, $38, $39), ($40, $41, $42), ($43, $44, $45), ($46, $47, $48), ($49, $50, $51), ($52, $53, $54), ($55, $56, $57), ($58, $59, $60), ($61, $62, $63), ($64, $65, $66), ($67, $68, $69), ($70, $71, $72), ($73, $74, $75), ($76, $77, $78), ($79, $80, $81), ($82, $83, $84)) AS p (k, start_date, end_date)
JOIN sitrep_value AS v ON v.period_date >= p.start_date AND v.period_date < p.end_date
WHERE v.feed IN (__[POSTCOMPILE_feeds]) AND v.measure = $85
GROUP BY p.k, v.level

-- fixed parameters:
--   measure_1 = 'remaining'
--   status_1 = ['ok', 'partial']
-- positional parameters:
--   $1 p0_k
--   $2 p0_start_date
--   $3 p0_end_date
--   $4 p1_k
--   $5 p1_start_date
--   $6 p1_end_date
--   $7 p2_k
--   $8 p2_start_date
--   $9 p2_end_date
--   $10 p3_k
--   $11 p3_start_date
--   $12 p3_end_date
--   $13 p4_k
--   $14 p4_start_date
--   $15 p4_end_date
--   $16 p5_k
--   $17 p5_start_date
--   $18 p5_end_date
--   $19 p6_k
--   $20 p6_start_date
--   $21 p6_end_date
--   $22 p7_k
--   $23 p7_start_date
--   $24 p7_end_date
--   $25 p8_k
--   $26 p8_start_date
--   $27 p8_end_date
--   $28 p9_k
--   $29 p9_start_date
--   $30 p9_end_date
--   $31 p10_k
--   $32 p10_start_date
--   $33 p10_end_date
--   $34 p11_k
--   $35 p11_start_date
--   $36 p11_end_date
--   $37 p12_k
--   $38 p12_start_date
--   $39 p12_end_date
--   $40 p13_k
--   $41 p13_start_date
--   $42 p13_end_date
--   $43 p14_k
--   $44 p14_start_date
--   $45 p14_end_date
--   $46 p15_k
--   $47 p15_start_date
--   $48 p15_end_date
--   $49 p16_k
--   $50 p16_start_date
--   $51 p16_end_date
--   $52 p17_k
--   $53 p17_start_date
--   $54 p17_end_date
--   $55 p18_k
--   $56 p18_start_date
--   $57 p18_end_date
--   $58 p19_k
--   $59 p19_start_date
--   $60 p19_end_date
--   $61 p20_k
--   $62 p20_start_date
--   $63 p20_end_date
--   $64 p21_k
--   $65 p21_start_date
--   $66 p21_end_date
--   $67 p22_k
--   $68 p22_start_date
--   $69 p22_end_date
--   $70 p23_k
--   $71 p23_start_date
--   $72 p23_end_date
--   $73 p24_k
--   $74 p24_start_date
--   $75 p24_end_date
--   $76 p25_k
--   $77 p25_start_date
--   $78 p25_end_date
--   $79 p26_k
--   $80 p26_start_date
--   $81 p26_end_date
--   $82 p27_k
--   $83 p27_start_date
--   $84 p27_end_date
--   $85 measure_1
