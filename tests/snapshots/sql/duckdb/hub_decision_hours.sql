-- hub_decision_hours (period): at=2026-03-15T09:30:00+00:00 from=2026-02-01 to=2026-03-01 grain=day by=hwb
SELECT p.k AS k,
  c.hwb_code AS d_hwb,
  percentile_cont($1) WITHIN GROUP (ORDER BY (CAST(EXTRACT(epoch
FROM c.pathway_decided_at) AS DOUBLE PRECISION) - CAST(EXTRACT(epoch
FROM c.referred_at) AS DOUBLE PRECISION)) / $2) AS value,
  NULL AS num,
  NULL AS den,
  (SELECT max(ingest_run.run_id) AS max_1
FROM ingest_run
WHERE ingest_run.status IN (__[POSTCOMPILE_status_1])) AS data_version
FROM hub_case AS c
JOIN (VALUES ($3, $4, $5), ($6, $7, $8), ($9, $10, $11), ($12, $13, $14), ($15, $16, $17), ($18, $19, $20), ($21, $22, $23), ($24, $25, $26), ($27, $28, $29), ($30, $31, $32), ($33, $34, $35), ($36, $37, $38), ($39, $40, $41), ($42, $43, $44), ($45, $46, $47), ($48, $49, $50), ($51, $52, $53), ($54, $55, $56), ($57, $58, $59), ($60, $61, $62), ($63, $64, $65), ($66, $67, $68), ($69, $70, $71), ($72, $73, $74), ($75, $76, $77), ($78, $79, $80), ($81, $82, $83), ($84, $85, $86)) AS p (k, p_start, p_end) ON p.k = CAST(c.pathway_decided_date - $87 AS INTEGER)
WHERE c.pathway_decided_at >= p.p_start AND c.pathway_decided_at < p.p_end AND c.pathway_decided_at <= $88 AND (c.pathway_decided_at IS NULL OR c.pathway_decided_at >= $89)
GROUP BY p.k, c.hwb_code

-- fixed parameters:
--   param_1 = 3600.0
--   percentile_cont_1 = 0.5
--   status_1 = ['ok', 'partial']
-- positional parameters:
--   $1 percentile_cont_1
--   $2 param_1
--   $3 p0_k
--   $4 p0_p_start
--   $5 p0_p_end
--   $6 p1_k
--   $7 p1_p_start
--   $8 p1_p_end
--   $9 p2_k
--   $10 p2_p_start
--   $11 p2_p_end
--   $12 p3_k
--   $13 p3_p_start
--   $14 p3_p_end
--   $15 p4_k
--   $16 p4_p_start
--   $17 p4_p_end
--   $18 p5_k
--   $19 p5_p_start
--   $20 p5_p_end
--   $21 p6_k
--   $22 p6_p_start
--   $23 p6_p_end
--   $24 p7_k
--   $25 p7_p_start
--   $26 p7_p_end
--   $27 p8_k
--   $28 p8_p_start
--   $29 p8_p_end
--   $30 p9_k
--   $31 p9_p_start
--   $32 p9_p_end
--   $33 p10_k
--   $34 p10_p_start
--   $35 p10_p_end
--   $36 p11_k
--   $37 p11_p_start
--   $38 p11_p_end
--   $39 p12_k
--   $40 p12_p_start
--   $41 p12_p_end
--   $42 p13_k
--   $43 p13_p_start
--   $44 p13_p_end
--   $45 p14_k
--   $46 p14_p_start
--   $47 p14_p_end
--   $48 p15_k
--   $49 p15_p_start
--   $50 p15_p_end
--   $51 p16_k
--   $52 p16_p_start
--   $53 p16_p_end
--   $54 p17_k
--   $55 p17_p_start
--   $56 p17_p_end
--   $57 p18_k
--   $58 p18_p_start
--   $59 p18_p_end
--   $60 p19_k
--   $61 p19_p_start
--   $62 p19_p_end
--   $63 p20_k
--   $64 p20_p_start
--   $65 p20_p_end
--   $66 p21_k
--   $67 p21_p_start
--   $68 p21_p_end
--   $69 p22_k
--   $70 p22_p_start
--   $71 p22_p_end
--   $72 p23_k
--   $73 p23_p_start
--   $74 p23_p_end
--   $75 p24_k
--   $76 p24_p_start
--   $77 p24_p_end
--   $78 p25_k
--   $79 p25_p_start
--   $80 p25_p_end
--   $81 p26_k
--   $82 p26_p_start
--   $83 p26_p_end
--   $84 p27_k
--   $85 p27_p_start
--   $86 p27_p_end
--   $87 bucket_from
--   $88 span_to
--   $89 span_from
