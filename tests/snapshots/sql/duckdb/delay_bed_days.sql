-- delay_bed_days (period): at=2026-03-15T09:30:00+00:00 from=2026-02-01 to=2026-03-01 grain=day by=hwb
SELECT g.d_hwb, CASE WHEN (ev.m = $1 AND ev.kind = $2) THEN g.s0 WHEN (ev.m = $3 AND ev.kind = $4) THEN g.e1 WHEN (ev.m = $5 AND ev.kind = $6) THEN g.e1 - $7 END AS k,
  sum(CASE WHEN (ev.m = $8 AND ev.kind = $9) THEN g.n0 END) AS ns0,
  sum(CASE WHEN (ev.m = $10 AND ev.kind = $11) THEN g.n0 END) AS ne0,
  sum(CASE WHEN (ev.m = $12 AND ev.kind = $13) THEN g.lo0 END) AS ls0,
  sum(CASE WHEN (ev.m = $14 AND ev.kind = $15) THEN g.lo0 END) AS le0,
  sum(CASE WHEN (ev.m = $16 AND ev.kind = $17) THEN g.n0 END) AS nl0,
  sum(CASE WHEN (ev.m = $18 AND ev.kind = $19) THEN g.hi0 END) AS hl0,
  (SELECT max(ingest_run.run_id) AS max_1
FROM ingest_run
WHERE ingest_run.status IN (__[POSTCOMPILE_status_1])) AS data_version
FROM (SELECT c.hwb_code AS d_hwb,
  CASE WHEN (c.discharge_ready_at < $20) THEN CASE WHEN (c.discharge_ready_at < $21) THEN CASE WHEN (c.discharge_ready_at < $22) THEN CASE WHEN (c.discharge_ready_at < $23) THEN 0 WHEN (c.discharge_ready_at < $24) THEN 1 WHEN (c.discharge_ready_at < $25) THEN 2 ELSE 3 END ELSE CASE WHEN (c.discharge_ready_at < $26) THEN 4 WHEN (c.discharge_ready_at < $27) THEN 5 WHEN (c.discharge_ready_at < $28) THEN 6 ELSE 7 END END ELSE CASE WHEN (c.discharge_ready_at < $29) THEN CASE WHEN (c.discharge_ready_at < $30) THEN 8 WHEN (c.discharge_ready_at < $31) THEN 9 WHEN (c.discharge_ready_at < $32) THEN 10 ELSE 11 END ELSE CASE WHEN (c.discharge_ready_at < $33) THEN 12 WHEN (c.discharge_ready_at < $34) THEN 13 ELSE 14 END END END ELSE CASE WHEN (c.discharge_ready_at < $35) THEN CASE WHEN (c.discharge_ready_at < $36) THEN CASE WHEN (c.discharge_ready_at < $37) THEN 15 WHEN (c.discharge_ready_at < $38) THEN 16 WHEN (c.discharge_ready_at < $39) THEN 17 ELSE 18 END ELSE CASE WHEN (c.discharge_ready_at < $40) THEN 19 WHEN (c.discharge_ready_at < $41) THEN 20 ELSE 21 END END ELSE CASE WHEN (c.discharge_ready_at < $42) THEN CASE WHEN (c.discharge_ready_at < $43) THEN 22 WHEN (c.discharge_ready_at < $44) THEN 23 WHEN (c.discharge_ready_at < $45) THEN 24 ELSE 25 END ELSE CASE WHEN (c.discharge_ready_at < $46) THEN 26 WHEN (c.discharge_ready_at < $47) THEN 27 ELSE 28 END END END END AS s0,
  CASE WHEN (c.discharged_at <= $48) THEN CASE WHEN (c.discharged_at <= $49) THEN CASE WHEN (c.discharged_at <= $50) THEN CASE WHEN (c.discharged_at <= $51) THEN 0 WHEN (c.discharged_at <= $52) THEN 1 WHEN (c.discharged_at <= $53) THEN 2 ELSE 3 END ELSE CASE WHEN (c.discharged_at <= $54) THEN 4 WHEN (c.discharged_at <= $55) THEN 5 WHEN (c.discharged_at <= $56) THEN 6 ELSE 7 END END ELSE CASE WHEN (c.discharged_at <= $57) THEN CASE WHEN (c.discharged_at <= $58) THEN 8 WHEN (c.discharged_at <= $59) THEN 9 WHEN (c.discharged_at <= $60) THEN 10 ELSE 11 END ELSE CASE WHEN (c.discharged_at <= $61) THEN 12 WHEN (c.discharged_at <= $62) THEN 13 ELSE 14 END END END ELSE CASE WHEN (c.discharged_at <= $63) THEN CASE WHEN (c.discharged_at <= $64) THEN CASE WHEN (c.discharged_at <= $65) THEN 15 WHEN (c.discharged_at <= $66) THEN 16 WHEN (c.discharged_at <= $67) THEN 17 ELSE 18 END ELSE CASE WHEN (c.discharged_at <= $68) THEN 19 WHEN (c.discharged_at <= $69) THEN 20 ELSE 21 END END ELSE CASE WHEN (c.discharged_at <= $70) THEN CASE WHEN (c.discharged_at <= $71) THEN 22 WHEN (c.discharged_at <= $72) THEN 23 WHEN (c.discharged_at <= $73) THEN 24 ELSE 25 END ELSE CASE WHEN (c.discharged_at <= $74) THEN 26 WHEN (c.discharged_at <= $75) THEN 27 ELSE 28 END END END END AS e1,
  count(1) AS n0,
  sum(CAST(EXTRACT(epoch
FROM greatest(c.discharge_ready_at, $51)) AS DOUBLE PRECISION) - CAST(EXTRACT(epoch
FROM $51) AS DOUBLE PRECISION)) AS lo0,
  sum(CAST(EXTRACT(epoch
FROM least(coalesce(c.discharged_at, $47), $47)) AS DOUBLE PRECISION) - CAST(EXTRACT(epoch
FROM $51) AS DOUBLE PRECISION)) AS hi0
FROM hub_case AS c
WHERE c.discharge_ready_at <= $76 AND (c.discharged_at IS NULL OR c.discharged_at >= $77)
GROUP BY c.hwb_code, CASE WHEN (c.discharge_ready_at < $20) THEN CASE WHEN (c.discharge_ready_at < $21) THEN CASE WHEN (c.discharge_ready_at < $22) THEN CASE WHEN (c.discharge_ready_at < $23) THEN 0 WHEN (c.discharge_ready_at < $24) THEN 1 WHEN (c.discharge_ready_at < $25) THEN 2 ELSE 3 END ELSE CASE WHEN (c.discharge_ready_at < $26) THEN 4 WHEN (c.discharge_ready_at < $27) THEN 5 WHEN (c.discharge_ready_at < $28) THEN 6 ELSE 7 END END ELSE CASE WHEN (c.discharge_ready_at < $29) THEN CASE WHEN (c.discharge_ready_at < $30) THEN 8 WHEN (c.discharge_ready_at < $31) THEN 9 WHEN (c.discharge_ready_at < $32) THEN 10 ELSE 11 END ELSE CASE WHEN (c.discharge_ready_at < $33) THEN 12 WHEN (c.discharge_ready_at < $34) THEN 13 ELSE 14 END END END ELSE CASE WHEN (c.discharge_ready_at < $35) THEN CASE WHEN (c.discharge_ready_at < $36) THEN CASE WHEN (c.discharge_ready_at < $37) THEN 15 WHEN (c.discharge_ready_at < $38) THEN 16 WHEN (c.discharge_ready_at < $39) THEN 17 ELSE 18 END ELSE CASE WHEN (c.discharge_ready_at < $40) THEN 19 WHEN (c.discharge_ready_at < $41) THEN 20 ELSE 21 END END ELSE CASE WHEN (c.discharge_ready_at < $42) THEN CASE WHEN (c.discharge_ready_at < $43) THEN 22 WHEN (c.discharge_ready_at < $44) THEN 23 WHEN (c.discharge_ready_at < $45) THEN 24 ELSE 25 END ELSE CASE WHEN (c.discharge_ready_at < $46) THEN 26 WHEN (c.discharge_ready_at < $47) THEN 27 ELSE 28 END END END END, CASE WHEN (c.discharged_at <= $48) THEN CASE WHEN (c.discharged_at <= $49) THEN CASE WHEN (c.discharged_at <= $50) THEN CASE WHEN (c.discharged_at <= $51) THEN 0 WHEN (c.discharged_at <= $52) THEN 1 WHEN (c.discharged_at <= $53) THEN 2 ELSE 3 END ELSE CASE WHEN (c.discharged_at <= $54) THEN 4 WHEN (c.discharged_at <= $55) THEN 5 WHEN (c.discharged_at <= $56) THEN 6 ELSE 7 END END ELSE CASE WHEN (c.discharged_at <= $57) THEN CASE WHEN (c.discharged_at <= $58) THEN 8 WHEN (c.discharged_at <= $59) THEN 9 WHEN (c.discharged_at <= $60) THEN 10 ELSE 11 END ELSE CASE WHEN (c.discharged_at <= $61) THEN 12 WHEN (c.discharged_at <= $62) THEN 13 ELSE 14 END END END ELSE CASE WHEN (c.discharged_at <= $63) THEN CASE WHEN (c.discharged_at <= $64) THEN CASE WHEN (c.discharged_at <= $65) THEN 15 WHEN (c.discharged_at <= $66) THEN 16 WHEN (c.discharged_at <= $67) THEN 17 ELSE 18 END ELSE CASE WHEN (c.discharged_at <= $68) THEN 19 WHEN (c.discharged_at <= $69) THEN 20 ELSE 21 END END ELSE CASE WHEN (c.discharged_at <= $70) THEN CASE WHEN (c.discharged_at <= $71) THEN 22 WHEN (c.discharged_at <= $72) THEN 23 WHEN (c.discharged_at <= $73) THEN 24 ELSE 25 END ELSE CASE WHEN (c.discharged_at <= $74) THEN 26 WHEN (c.discharged_at <= $75) THEN 27 ELSE 28 END END END END) AS g
JOIN (VALUES (0, 0), (0, 1), (0, 2)) AS ev (m, kind) ON true
WHERE ev.m = $78 AND g.s0 < g.e1 AND g.s0 < $79
GROUP BY g.d_hwb, CASE WHEN (ev.m = $1 AND ev.kind = $2) THEN g.s0 WHEN (ev.m = $3 AND ev.kind = $4) THEN g.e1 WHEN (ev.m = $5 AND ev.kind = $6) THEN g.e1 - $7 END

-- fixed parameters:
--   e1_1 = 1
--   kind_1 = 0
--   kind_2 = 1
--   kind_3 = 2
--   kind_4 = 0
--   kind_5 = 1
--   kind_6 = 0
--   kind_7 = 1
--   kind_8 = 2
--   kind_9 = 2
--   m_1 = 0
--   m_10 = 0
--   m_2 = 0
--   m_3 = 0
--   m_4 = 0
--   m_5 = 0
--   m_6 = 0
--   m_7 = 0
--   m_8 = 0
--   m_9 = 0
--   s0_1 = 28
--   status_1 = ['ok', 'partial']
-- positional parameters:
--   $1 m_1
--   $2 kind_1
--   $3 m_2
--   $4 kind_2
--   $5 m_3
--   $6 kind_3
--   $7 e1_1
--   $8 m_4
--   $9 kind_4
--   $10 m_5
--   $11 kind_5
--   $12 m_6
--   $13 kind_6
--   $14 m_7
--   $15 kind_7
--   $16 m_8
--   $17 kind_8
--   $18 m_9
--   $19 kind_9
--   $20 p14_p_end
--   $21 p7_p_end
--   $22 p3_p_end
--   $23 p0_p_end
--   $24 p1_p_end
--   $25 p2_p_end
--   $26 p4_p_end
--   $27 p5_p_end
--   $28 p6_p_end
--   $29 p11_p_end
--   $30 p8_p_end
--   $31 p9_p_end
--   $32 p10_p_end
--   $33 p12_p_end
--   $34 p13_p_end
--   $35 p21_p_end
--   $36 p18_p_end
--   $37 p15_p_end
--   $38 p16_p_end
--   $39 p17_p_end
--   $40 p19_p_end
--   $41 p20_p_end
--   $42 p25_p_end
--   $43 p22_p_end
--   $44 p23_p_end
--   $45 p24_p_end
--   $46 p26_p_end
--   $47 p27_p_end
--   $48 p14_p_start
--   $49 p7_p_start
--   $50 p3_p_start
--   $51 p0_p_start
--   $52 p1_p_start
--   $53 p2_p_start
--   $54 p4_p_start
--   $55 p5_p_start
--   $56 p6_p_start
--   $57 p11_p_start
--   $58 p8_p_start
--   $59 p9_p_start
--   $60 p10_p_start
--   $61 p12_p_start
--   $62 p13_p_start
--   $63 p21_p_start
--   $64 p18_p_start
--   $65 p15_p_start
--   $66 p16_p_start
--   $67 p17_p_start
--   $68 p19_p_start
--   $69 p20_p_start
--   $70 p25_p_start
--   $71 p22_p_start
--   $72 p23_p_start
--   $73 p24_p_start
--   $74 p26_p_start
--   $75 p27_p_start
--   $76 span_to
--   $77 span_from
--   $78 m_10
--   $79 s0_1
