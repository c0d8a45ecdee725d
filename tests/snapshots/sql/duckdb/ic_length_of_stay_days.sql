-- ic_length_of_stay_days (period): at=2026-03-15T09:30:00+00:00 from=2026-02-01 to=2026-03-01 grain=day by=hwb
SELECT p.k AS k,
  c.hwb_code AS d_hwb,
  percentile_cont($1) WITHIN GROUP (ORDER BY CAST(c.ic_ended_date - c.ic_started_date AS INTEGER)) AS value,
  NULL AS num,
  NULL AS den,
  (SELECT max(ingest_run.run_id) AS max_1
FROM ingest_run
WHERE ingest_run.status IN (__[POSTCOMPILE_status_1])) AS data_version
FROM hub_case AS c
JOIN (VALUES ($2, $3, $4), ($5, $6, $7), ($8, $9, $10), ($11, $12, $13), ($14, $15, $16), ($17, $18, $19), ($20, $21, $22), ($23, $24, $25), ($26, $27, $28), ($29, $30, $31), ($32, $33, $34), ($35, $36, $37), ($38, $39, $40), ($41, $42, $43), ($44, $45, $46), ($47, $48, $49), ($50, $51, $52), ($53, $54, $55), ($56, $57, $58), ($59, $60, $61), ($62, $63, $64), ($65, $66, $67), ($68, $69, $70), ($71, $72, $73), ($74, $75, $76), ($77, $78, $79), ($80, $81, $82), ($83, $84, $85)) AS p (k, p_start, p_end) ON p.k = CAST(c.ic_ended_date - $86 AS INTEGER)
WHERE c.ic_ended_at >= p.p_start AND c.ic_ended_at < p.p_end AND c.ic_started_at IS NOT NULL AND c.ic_ended_at <= $87 AND (c.ic_ended_at IS NULL OR c.ic_ended_at >= $88)
GROUP BY p.k, c.hwb_code

-- fixed parameters:
--   percentile_cont_1 = 0.5
--   status_1 = ['ok', 'partial']
-- positional parameters:
--   $1 percentile_cont_1
--   $2 p0_k
--   $3 p0_p_start
--   $4 p0_p_end
--   $5 p1_k
--   $6 p1_p_start
--   $7 p1_p_end
--   $8 p2_k
--   $9 p2_p_start
--   $10 p2_p_end
--   $11 p3_k
--   $12 p3_p_start
--   $13 p3_p_end
--   $14 p4_k
--   $15 p4_p_start
--   $16 p4_p_end
--   $17 p5_k
--   $18 p5_p_start
--   $19 p5_p_end
--   $20 p6_k
--   $21 p6_p_start
--   $22 p6_p_end
--   $23 p7_k
--   $24 p7_p_start
--   $25 p7_p_end
--   $26 p8_k
--   $27 p8_p_start
--   $28 p8_p_end
--   $29 p9_k
--   $30 p9_p_start
--   $31 p9_p_end
--   $32 p10_k
--   $33 p10_p_start
--   $34 p10_p_end
--   $35 p11_k
--   $36 p11_p_start
--   $37 p11_p_end
--   $38 p12_k
--   $39 p12_p_start
--   $40 p12_p_end
--   $41 p13_k
--   $42 p13_p_start
--   $43 p13_p_end
--   $44 p14_k
--   $45 p14_p_start
--   $46 p14_p_end
--   $47 p15_k
--   $48 p15_p_start
--   $49 p15_p_end
--   $50 p16_k
--   $51 p16_p_start
--   $52 p16_p_end
--   $53 p17_k
--   $54 p17_p_start
--   $55 p17_p_end
--   $56 p18_k
--   $57 p18_p_start
--   $58 p18_p_end
--   $59 p19_k
--   $60 p19_p_start
--   $61 p19_p_end
--   $62 p20_k
--   $63 p20_p_start
--   $64 p20_p_end
--   $65 p21_k
--   $66 p21_p_start
--   $67 p21_p_end
--   $68 p22_k
--   $69 p22_p_start
--   $70 p22_p_end
--   $71 p23_k
--   $72 p23_p_start
--   $73 p23_p_end
--   $74 p24_k
--   $75 p24_p_start
--   $76 p24_p_end
--   $77 p25_k
--   $78 p25_p_start
--   $79 p25_p_end
--   $80 p26_k
--   $81 p26_p_start
--   $82 p26_p_end
--   $83 p27_k
--   $84 p27_p_start
--   $85 p27_p_end
--   $86 bucket_from
--   $87 span_to
--   $88 span_from
