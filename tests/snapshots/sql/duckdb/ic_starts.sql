-- ic_starts (period): at=2026-03-15T09:30:00+00:00 from=2026-02-01 to=2026-03-01 grain=day by=hwb
SELECT p.k AS k,
  c.hwb_code AS d_hwb,
  count(*) AS value,
  NULL AS num,
  NULL AS den,
  (SELECT max(ingest_run.run_id) AS max_1
FROM ingest_run
WHERE ingest_run.status IN (__[POSTCOMPILE_status_1])) AS data_version
FROM hub_case AS c
JOIN (VALUES ($1, $2, $3), ($4, $5, $6), ($7, $8, $9), ($10, $11, $12), ($13, $14, $15), ($16, $17, $18), ($19, $20, $21), ($22, $23, $24), ($25, $26, $27), ($28, $29, $30), ($31, $32, $33), ($34, $35, $36), ($37, $38, $39), ($40, $41, $42), ($43, $44, $45), ($46, $47, $48), ($49, $50, $51), ($52, $53, $54), ($55, $56, $57), ($58, $59, $60), ($61, $62, $63), ($64, $65, $66), ($67, $68, $69), ($70, $71, $72), ($73, $74, $75), ($76, $77, $78), ($79, $80, $81), ($82, $83, $84)) AS p (k, p_start, p_end) ON p.k = CAST(c.ic_started_date - $85 AS INTEGER)
WHERE c.ic_started_at >= p.p_start AND c.ic_started_at < p.p_end AND c.ic_started_at <= $86 AND (c.ic_started_at IS NULL OR c.ic_started_at >= $87)
GROUP BY p.k, c.hwb_code

-- fixed parameters:
--   status_1 = ['ok', 'partial']
-- positional parameters:
--   $1 p0_k
--   $2 p0_p_start
--   $3 p0_p_end
--   $4 p1_k
--   $5 p1_p_start
--   $6 p1_p_end
--   $7 p2_k
--   $8 p2_p_start
--   $9 p2_p_end
--   $10 p3_k
--   $11 p3_p_start
--   $12 p3_p_end
--   $13 p4_k
--   $14 p4_p_start
--   $15 p4_p_end
--   $16 p5_k
--   $17 p5_p_start
--   $18 p5_p_end
--   $19 p6_k
--   $20 p6_p_start
--   $21 p6_p_end
--   $22 p7_k
--   $23 p7_p_start
--   $24 p7_p_end
--   $25 p8_k
--   $26 p8_p_start
--   $27 p8_p_end
--   $28 p9_k
--   $29 p9_p_start
--   $30 p9_p_end
--   $31 p10_k
--   $32 p10_p_start
--   $33 p10_p_end
--   $34 p11_k
--   $35 p11_p_start
--   $36 p11_p_end
--   $37 p12_k
--   $38 p12_p_start
--   $39 p12_p_end
--   $40 p13_k
--   $41 p13_p_start
--   $42 p13_p_end
--   $43 p14_k
--   $44 p14_p_start
--   $45 p14_p_end
--   $46 p15_k
--   $47 p15_p_start
--   $48 p15_p_end
--   $49 p16_k
--   $50 p16_p_start
--   $51 p16_p_end
--   $52 p17_k
--   $53 p17_p_start
--   $54 p17_p_end
--   $55 p18_k
--   $56 p18_p_start
--   $57 p18_p_end
--   $58 p19_k
--   $59 p19_p_start
--   $60 p19_p_end
--   $61 p20_k
--   $62 p20_p_start
--   $63 p20_p_end
--   $64 p21_k
--   $65 p21_p_start
--   $66 p21_p_end
--   $67 p22_k
--   $68 p22_p_start
--   $69 p22_p_end
--   $70 p23_k
--   $71 p23_p_start
--   $72 p23_p_end
--   $73 p24_k
--   $74 p24_p_start
--   $75 p24_p_end
--   $76 p25_k
--   $77 p25_p_start
--   $78 p25_p_end
--   $79 p26_k
--   $80 p26_p_start
--   $81 p26_p_end
--   $82 p27_k
--   $83 p27_p_start
--   $84 p27_p_end
--   $85 bucket_from
--   $86 span_to
--   $87 span_from
