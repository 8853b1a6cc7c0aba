// The Indiana hi-resolution event enumerations (Sturdevant et al., "Indiana Traffic Signal Hi Resolution Data
// Logger Enumerations", 2012): code -> name in Vietnamese and English, and what the parameter counts (a phase, a
// detector, a preempt input…), so the event log can name an event and its parameter. Codes not listed are shown
// as "code N" (vendors use the reserved ranges).
import { state } from "./store.js";

/** param kinds: phase | ped (the phase of a pedestrian movement) | overlap | detector | ped_detector | preempt |
 * tsp | pattern | seconds | coord_state | flash_status | barrier | none | value */
const C = (vi, en, param) => ({ vi, en, param });

export const CODES = {
  0: C("Pha bật", "Phase on", "phase"),
  1: C("Bắt đầu xanh", "Phase begin green", "phase"),
  2: C("Pha được kiểm tra (có yêu cầu xung đột)", "Phase check", "phase"),
  3: C("Hết xanh tối thiểu", "Phase min complete", "phase"),
  4: C("Hết xanh do giãn cách (gap out)", "Phase gap out", "phase"),
  5: C("Hết xanh do xanh tối đa (max out)", "Phase max out", "phase"),
  6: C("Hết xanh do cưỡng bức (force off)", "Phase force off", "phase"),
  7: C("Kết thúc xanh", "Phase green termination", "phase"),
  8: C("Bắt đầu vàng", "Phase begin yellow clearance", "phase"),
  9: C("Kết thúc vàng", "Phase end yellow clearance", "phase"),
  10: C("Bắt đầu đỏ giải toả", "Phase begin red clearance", "phase"),
  11: C("Kết thúc đỏ giải toả", "Phase end red clearance", "phase"),
  12: C("Pha ngừng hoạt động", "Phase inactive", "phase"),
  21: C("Đi bộ: bắt đầu đi", "Pedestrian begin walk", "ped"),
  22: C("Đi bộ: bắt đầu giải toả", "Pedestrian begin clearance", "ped"),
  23: C("Đi bộ: bắt đầu dừng", "Pedestrian begin solid don't walk", "ped"),
  24: C("Đi bộ: tắt", "Pedestrian dark", "ped"),
  31: C("Kết thúc rào", "Barrier termination", "barrier"),
  32: C("Mũi tên vàng nhấp nháy: bắt đầu cho phép", "FYA begin permissive", "phase"),
  33: C("Mũi tên vàng nhấp nháy: hết cho phép", "FYA end permissive", "phase"),
  41: C("Giữ pha bật", "Phase hold active", "phase"),
  42: C("Giữ pha nhả", "Phase hold released", "phase"),
  43: C("Có yêu cầu pha", "Phase call registered", "phase"),
  44: C("Hết yêu cầu pha", "Phase call dropped", "phase"),
  45: C("Có yêu cầu đi bộ", "Pedestrian call registered", "ped"),
  46: C("Bỏ qua pha: bật", "Phase omit on", "phase"),
  47: C("Bỏ qua pha: tắt", "Phase omit off", "phase"),
  48: C("Bỏ qua đi bộ: bật", "Pedestrian omit on", "ped"),
  49: C("Bỏ qua đi bộ: tắt", "Pedestrian omit off", "ped"),
  61: C("Pha chồng: bắt đầu xanh", "Overlap begin green", "overlap"),
  62: C("Pha chồng: bắt đầu xanh kéo dài", "Overlap begin trailing green", "overlap"),
  63: C("Pha chồng: bắt đầu vàng", "Overlap begin yellow", "overlap"),
  64: C("Pha chồng: bắt đầu đỏ giải toả", "Overlap begin red clearance", "overlap"),
  65: C("Pha chồng: tắt (đỏ)", "Overlap off", "overlap"),
  66: C("Pha chồng: tối", "Overlap dark", "overlap"),
  67: C("Pha chồng đi bộ: bắt đầu đi", "Pedestrian overlap begin walk", "overlap"),
  68: C("Pha chồng đi bộ: bắt đầu giải toả", "Pedestrian overlap begin clearance", "overlap"),
  69: C("Pha chồng đi bộ: bắt đầu dừng", "Pedestrian overlap begin solid don't walk", "overlap"),
  70: C("Pha chồng đi bộ: tối", "Pedestrian overlap dark", "overlap"),
  81: C("Đầu dò: hết xe", "Detector off", "detector"),
  82: C("Đầu dò: có xe", "Detector on", "detector"),
  83: C("Đầu dò: hết lỗi", "Detector restored", "detector"),
  84: C("Đầu dò lỗi: khác", "Detector fault: other", "detector"),
  85: C("Đầu dò lỗi: watchdog", "Detector fault: watchdog", "detector"),
  86: C("Đầu dò lỗi: hở vòng từ", "Detector fault: open loop", "detector"),
  87: C("Đầu dò lỗi: chập vòng từ", "Detector fault: shorted loop", "detector"),
  88: C("Đầu dò lỗi: thay đổi bất thường", "Detector fault: excessive change", "detector"),
  89: C("Nút đi bộ: nhả", "Ped detector off", "ped_detector"),
  90: C("Nút đi bộ: bấm", "Ped detector on", "ped_detector"),
  91: C("Nút đi bộ: lỗi", "Ped detector failed", "ped_detector"),
  92: C("Nút đi bộ: hết lỗi", "Ped detector restored", "ped_detector"),
  101: C("Ưu tiên: cảnh báo sớm", "Preempt advance warning input", "preempt"),
  102: C("Ưu tiên: tín hiệu gọi bật", "Preempt call input on", "preempt"),
  103: C("Ưu tiên: rào chắn đã hạ", "Preempt gate down input received", "preempt"),
  104: C("Ưu tiên: tín hiệu gọi tắt", "Preempt call input off", "preempt"),
  105: C("Ưu tiên: bắt đầu vào", "Preempt entry started", "preempt"),
  106: C("Ưu tiên: bắt đầu giải toả đường ray", "Preempt begin track clearance", "preempt"),
  107: C("Ưu tiên: bắt đầu phục vụ", "Preempt begin dwell service", "preempt"),
  108: C("Ưu tiên: liên kết bật", "Preempt link active on", "preempt"),
  109: C("Ưu tiên: liên kết tắt", "Preempt link active off", "preempt"),
  110: C("Ưu tiên: vượt thời gian tối đa", "Preempt max presence exceeded", "preempt"),
  111: C("Ưu tiên: bắt đầu thoát", "Preempt begin exit interval", "preempt"),
  112: C("Ưu tiên xe buýt: đăng ký", "TSP check in", "tsp"),
  113: C("Ưu tiên xe buýt: xanh sớm", "TSP adjustment to early green", "tsp"),
  114: C("Ưu tiên xe buýt: kéo dài xanh", "TSP adjustment to extend green", "tsp"),
  115: C("Ưu tiên xe buýt: kết thúc", "TSP check out", "tsp"),
  131: C("Đổi kịch bản phối hợp", "Coord pattern change", "pattern"),
  132: C("Đổi chu kỳ", "Cycle length change", "seconds"),
  133: C("Đổi lệch pha", "Offset length change", "seconds"),
  150: C("Đổi trạng thái chu kỳ phối hợp", "Coord cycle state change", "coord_state"),
  151: C("Điểm nhường của pha phối hợp", "Coordinated phase yield point", "phase"),
  171: C("Đầu vào thử: bật", "Test input on", "value"),
  172: C("Đầu vào thử: tắt", "Test input off", "value"),
  173: C("Đổi trạng thái nhấp nháy", "Unit flash status change", "flash_status"),
  174: C("Đổi trạng thái cảnh báo 1", "Unit alarm status 1 change", "value"),
  175: C("Đổi trạng thái nhóm cảnh báo", "Alarm group state change", "value"),
  176: C("Đầu ra chức năng đặc biệt: bật", "Special function output on", "value"),
  177: C("Đầu ra chức năng đặc biệt: tắt", "Special function output off", "value"),
  178: C("Điều khiển tay: bật/tắt", "Manual control enable off/on", "value"),
  179: C("Nhảy bước: bật/tắt", "Interval advance off/on", "value"),
  180: C("Dừng thời gian: bật/tắt", "Stop time input off/on", "value"),
  181: C("Đồng hồ tủ được chỉnh", "Controller clock updated", "none"),
  182: C("Phát hiện mất điện", "Power failure detected", "none"),
  184: C("Có điện trở lại", "Power restored", "none"),
  185: C("Cảnh báo riêng của hãng", "Vendor specific alarm", "value"),
};
for (let n = 1; n <= 16; n++) CODES[133 + n] = C(`Đổi phân pha ${n}`, `Split ${n} change`, "seconds");

/** Groups for the filter: each a list of codes (the API takes at most 64 per query). */
export const GROUPS = {
  phase: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 31, 32, 33, 41, 42, 43, 44, 46, 47, 151],
  ped: [21, 22, 23, 24, 45, 48, 49, 89, 90, 91, 92],
  detector: [81, 82, 83, 84, 85, 86, 87, 88],
  overlap: [61, 62, 63, 64, 65, 66, 67, 68, 69, 70],
  coord: [131, 132, 133, 150, ...Array.from({ length: 16 }, (_, i) => 134 + i)],
  preempt: [101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115],
  unit: [171, 172, 173, 174, 175, 176, 177, 178, 179, 180, 181, 182, 184, 185],
};

const PARAM = {
  vi: { phase: "pha {n}", ped: "đi bộ pha {n}", overlap: "pha chồng {n}", detector: "đầu dò {n}",
        ped_detector: "nút đi bộ {n}", preempt: "ưu tiên {n}", tsp: "ưu tiên buýt {n}", pattern: "kịch bản {n}",
        seconds: "{n} s", coord_state: "trạng thái {n}", flash_status: "mã nhấp nháy {n}", barrier: "rào {n}",
        value: "{n}", none: "" },
  en: { phase: "phase {n}", ped: "ped phase {n}", overlap: "overlap {n}", detector: "detector {n}",
        ped_detector: "ped button {n}", preempt: "preempt {n}", tsp: "TSP {n}", pattern: "pattern {n}",
        seconds: "{n} s", coord_state: "state {n}", flash_status: "flash code {n}", barrier: "barrier {n}",
        value: "{n}", none: "" },
};

/** The name of `code` in the current language. */
export function codeName(code) {
  const c = CODES[code];
  if (!c) return state.lang === "vi" ? `mã ${code}` : `code ${code}`;
  return state.lang === "vi" ? c.vi : c.en;
}

/** What the parameter of `code` means, in words: "pha 2", "detector 5". */
export function paramText(code, param) {
  const kind = CODES[code] ? CODES[code].param : "value";
  return (PARAM[state.lang] || PARAM.vi)[kind].replace("{n}", String(param));
}
