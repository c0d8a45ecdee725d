-- sitrep_discharged_share (period): at=2026-03-15T09:30:00+00:00 from=2026-02-01 to=2026-03-01 grain=day by=level
SELECT p.k AS k,
  v.level AS d_level,
  NULL AS value,
  sum(CASE WHEN (v.measure = $1) THEN v.value END) AS num,
  sum(CASE WHEN (v.measure = $2) THEN v.value END) AS den,
  (SELECT max(ingest_run.run_id) AS max_1
FROM ingest_run
WHERE ingest_run.status IN (__[POSTCOMPILE_status_1])) AS data_version
FROM (VALUES ($3, $4, $5), ($6, $7, $8), ($9, $10, $11), ($12, $13, $14), ($15, $16, $17), ($18, $19, $20), ($21, $22, $23), ($24, $25, $26), ($27, $28, $29), ($30, $31, $32), ($33, $34, $35), ($36, $37, $38), ($39, $40, $41), ($42, $43, $44), ($45, $46, $47), ($48, $49, $50), ($51, $52, $53), ($54, $55, $56), ($57, $58, $59), ($60, $61, $62), ($63, $64, $65), ($66, $67, $68), ($69, $70, $71), ($72, $73, $74), ($75, $76, $77), ($78, $79, $80), ($81, $82, $83), ($84, $85, $86)) AS p (k, start_date, end_date)
JOIN sitrep_value AS v ON v.period_date >= p.start_date AND v.period_date < p.end_date
WHERE v.feed IN (__[POSTCOMPILE_feeds]) AND v.measure IN (__[POSTCOMPILE_measure_3])
GROUP BY p.k, v.level

-- fixed parameters:
--   measure_1 = 'discharged'
--   measure_2 = 'nctr'
--   measure_3 = ['discharged', 'nctr']
--   status_1 = ['ok', 'partial']
-- positional parameters:
--   $1 measure_1
--   $2 measure_2
--   $3 p0_k
--   $4 p0_start_date
--   $5 p0_end_date
--   $6 p1_k
--   $7 p1_start_date
--   $8 p1_end_date
--   $9 p2_k
--   $10 p2_start_date
--   $11 p2_end_date
--   $12 p3_k
--   $13 p3_start_date
--   $14 p3_end_date
--   $15 p4_k
--   $16 p4_start_date
--   $17 p4_end_date
--   $18 p5_k
--   $19 p5_start_date
--   $20 p5_end_date
--   $21 p6_k
--   $22 p6_start_date
--   $23 p6_end_date
--   $24 p7_k
--   $25 p7_start_date
--   $26 p7_end_date
--   $27 p8_k
--   $28 p8_start_date
--   $29 p8_end_date
--   $30 p9_k
--   $31 p9_start_date
--   $32 p9_end_date
--   $33 p10_k
--   $34 p10_start_date
--   $35 p10_end_date
--   $36 p11_k
--   $37 p11_start_date
--   $38 p11_end_date
--   $39 p12_k
--   $40 p12_start_date
--   $41 p12_end_date
--   $42 p13_k
--   $43 p13_start_date
--   $44 p13_end_date
--   $45 p14_k
--   $46 p14_start_date
--   $47 p14_end_date
--   $48 p15_k
--   $49 p15_start_date
--   $50 p15_end_date
--   $51 p16_k
--   $52 p16_start_date
--   $53 p16_end_date
--   $54 p17_k
--   $55 p17_start_date
--   $56 p17_end_date
--   $57 p18_k
--   $58 p18_start_date
--   $59 p18_end_date
--   $60 p19_k
--   $61 p19_start_date
--   $62 p19_end_date
--   $63 p20_k
--   $64 p20_start_date
--   $65 p20_end_date
--   $66 p21_k
--   $67 p21_start_date
--   $68 p21_end_date
--   $69 p22_k
--   $70 p22_start_date
--   $71 p22_end_date
--   $72 p23_k
--   $73 p23_start_date
--   $74 p23_end_date
--   $75 p24_k
--   $76 p24_start_date
--   $77 p24_end_date
--   $78 p25_k
--   $79 p25_start_date
--   $80 p25_end_date
--   $81 p26_k
--   $82 p26_start_date
--   $83 p26_end_date
--   $84 p27_k
--   $85 p27_start_date
--   $86 p27_end_date
