// The ring-barrier diagram of the running plan: each ring's phases in order, as wide as their splits in the
// running pattern, coloured by their live state, with the cycle timer as a cursor: an engineer sees a phase that
// overruns its split or gaps out early. Barriers are the lines both rings cross together.
import { html } from "../lib.js";
import { t, fmtNum } from "../i18n.js";

const FILL = { green: "#15803d", yellow: "#ca8a04", red: "#b91c1c", dark: "#374151", flash_yellow: "#ca8a04",
               flash_red: "#b91c1c" };

export function RingBarrier({ plan, values }) {
  const pattern = plan && values && plan.patterns.find((p) => p.pattern === values.pattern);
  if (!plan || !pattern) return null;
  const W = 900, ROW = 46, PAD = 28;
  const scale = (s) => (s / pattern.cycle_s) * W;
  const rings = plan.rings.map((ring) => {
    let x = 0;
    return ring.map((ph) => {
      const split = Number(pattern.splits_s[String(ph)] || 0);
      const seg = { ph, x, w: scale(split), split };
      x += seg.w;
      return seg;
    });
  });
  // barrier lines: where the first ring moves from one barrier group to the next
  const barrierX = [];
  let acc = 0;
  for (const group of plan.barriers.slice(0, -1)) {
    acc += (plan.rings[0] || []).filter((p) => group.includes(p))
      .reduce((s, p) => s + Number(pattern.splits_s[String(p)] || 0), 0);
    barrierX.push(scale(acc));
  }
  const timer = Number(values.cycle_timer_s) || 0;
  const cursor = scale(Math.min(timer, pattern.cycle_s));
  const title = t("ring_barrier", { p: pattern.pattern, c: fmtNum(pattern.cycle_s) });
  return html`<figure class="ring-barrier">
    <figcaption>${title}</figcaption>
    <svg viewBox=${`0 0 ${W + 2} ${rings.length * ROW + PAD}`} role="img" aria-label=${title}>
      ${rings.map((segs, r) => segs.map((s) => {
        const st = (values.phases || {})[String(s.ph)] || "dark";
        const y = r * ROW;
        return html`<g key=${`${r}-${s.ph}`} data-phase=${s.ph} data-state=${st}>
          <rect x=${s.x + 1} y=${y + 2} width=${Math.max(0, s.w - 2)} height=${ROW - 6} rx="4"
            fill=${FILL[st] || "#374151"} class=${st.startsWith("flash") ? "blink" : ""} />
          <text x=${s.x + 8} y=${y + ROW / 2 + 3} fill=${st.includes("yellow") ? "#111827" : "#fff"} font-size="15">${`Φ${s.ph} · ${fmtNum(s.split)} s`}</text>
        </g>`;
      }))}
      ${barrierX.map((x) => html`<line key=${x} x1=${x + 1} x2=${x + 1} y1="0" y2=${rings.length * ROW} stroke="#111827" stroke-width="3" stroke-dasharray="6 4" />`)}
      <line x1=${cursor + 1} x2=${cursor + 1} y1="0" y2=${rings.length * ROW + 6} stroke="#1d4ed8" stroke-width="3" />
      <text x=${Math.min(cursor + 4, W - 60)} y=${rings.length * ROW + 22} font-size="15" fill="#1e3a8a">${`${fmtNum(timer, 1)} s`}</text>
    </svg>
  </figure>`;
}
