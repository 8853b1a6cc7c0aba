// Every string the UI shows, in Vietnamese (the default) and English, and the number and date formats of each.
// The two tables must have the same keys: a missing one is reported with console.error, which the browser tests
// treat as a failure.
import { state } from "./store.js";

const vi = {
  app: "signalight", sign_in_title: "Đăng nhập", user: "Tên đăng nhập", password: "Mật khẩu", sign_in: "Đăng nhập",
  signing_in: "Đang đăng nhập…", bad_login: "Sai tên đăng nhập hoặc mật khẩu",
  locked: "Tài khoản tạm khoá, thử lại sau", sign_out: "Đăng xuất", session_lost: "Phiên làm việc đã hết, hãy đăng nhập lại.",
  lang_other: "English", lang_label: "Ngôn ngữ", network_error: "Không kết nối được máy chủ",
  nav: "Điều hướng chính", nav_intersections: "Nút giao", nav_devices: "Thiết bị", nav_alarms: "Cảnh báo",
  conn_connecting: "Đang kết nối…", conn_live: "Trực tiếp", conn_stale: "Dữ liệu cũ", conn_offline: "Mất mạng",
  conn_signed_out: "Chưa đăng nhập", conn_since: "dữ liệu lúc {time}",
  loading: "Đang tải…", failed_load: "Không tải được: {reason}", retry: "Thử lại", none: "—", close: "Đóng",
  cancel: "Huỷ", confirm: "Xác nhận", save: "Lưu", back: "Quay lại",
  filter: "Lọc theo tên, mã…", sort_by: "Sắp xếp theo", all: "Tất cả",
  online: "trực tuyến", offline: "ngoại tuyến", unknown: "chưa rõ",
  gateway_offline: "gateway mất kết nối", gateway_restarted: "chờ gateway khởi động lại",
  signal_controller: "Tủ điều khiển đèn tín hiệu", lighting_cabinet: "Tủ chiếu sáng",
  devices_count: "{n} thiết bị · {online} trực tuyến", intersections_count: "{n} nút giao",
  col_intersection: "Nút giao", col_mode: "Chế độ", col_pattern: "Kịch bản", col_source: "Nguồn điều khiển",
  col_alarms: "Cảnh báo", col_comm: "Liên lạc", col_compliance: "Tuân thủ lịch", col_updated: "Cập nhật",
  mode_coordinated: "Phối hợp", mode_free: "Tự do", mode_flash: "Nhấp nháy", mode_manual_hold: "Giữ kịch bản",
  mode_preempt: "Ưu tiên", mode_dark: "Tắt", mode_unknown: "Chưa rõ",
  source_schedule: "Theo lịch", source_central: "Trung tâm",
  flash_conflict: "Nhấp nháy do xung đột pha", flash_local: "Nhấp nháy tại tủ", flash_central: "Nhấp nháy do trung tâm",
  flash_startup: "Nhấp nháy khởi động", flash_schedule: "Nhấp nháy theo lịch", flash_none: "Nhấp nháy",
  compliance_agree: "Đúng lịch", compliance_mismatch: "Lệch lịch", compliance_skipped: "Không kiểm tra",
  no_intersections: "Chưa có nút giao nào.", no_match: "Không có kết quả phù hợp.",
  phase: "Pha", ped: "Người đi bộ", cycle_timer: "Thời gian chu kỳ", cycle: "Chu kỳ", pattern: "Kịch bản",
  scheduled: "Theo lịch", running: "Đang chạy", ring: "Vòng {n}", barrier: "Rào", phase_n: "Pha {n}",
  ph_green: "xanh", ph_yellow: "vàng", ph_red: "đỏ", ph_dark: "tắt", ph_flash_yellow: "vàng nhấp nháy",
  ph_flash_red: "đỏ nhấp nháy", ped_walk: "đi", ped_ped_clear: "giải toả", ped_dont_walk: "dừng", ped_dark: "tắt",
  ring_barrier: "Sơ đồ vòng – rào (kịch bản {p}, chu kỳ {c} s)", no_plan_shown: "Chưa có kế hoạch được triển khai.",
  detectors: "Đầu dò có xe", no_calls: "không có", backup_timer: "Bộ hẹn giờ dự phòng", backup_left: "còn {s}", flash_cause: "Nguyên nhân nhấp nháy",
  control_panel: "Điều khiển thủ công", held_by: "{user} giữ quyền điều khiển đến {until}",
  no_manual: "Đang chạy theo lịch, không có điều khiển thủ công.", action: "Lệnh",
  act_hold_pattern: "Giữ kịch bản", act_free: "Chạy tự do", act_flash: "Nhấp nháy vàng",
  duration: "Thời lượng", minutes: "{n} phút", hours: "{n} giờ", reason: "Lý do", reason_needed: "Hãy nhập lý do.",
  start_control: "Bắt đầu", release: "Trả về lịch", reset_conflict: "Đặt lại xung đột",
  confirm_control: "{action} đến {until}?", sent: "Đã gửi lệnh…", succeeded: "Thành công", failed: "Thất bại",
  expired: "Hết hạn", pending: "Đang chờ thiết bị", refused: "Bị từ chối",
  conflict_no_release: "Nhấp nháy do xung đột pha không thể trả về lịch: bộ giám sát xung đột đã khoá. Kỹ sư phải kiểm tra tủ rồi đặt lại xung đột.",
  reset_engineer_only: "Chỉ kỹ sư mới được đặt lại xung đột.",
  reset_refused: "Thiết bị từ chối đặt lại: nguyên nhân xung đột vẫn còn.",
  control_view_only: "Bạn chỉ có quyền xem.",
  plans: "Kế hoạch điều khiển", versions: "Các phiên bản", version: "Phiên bản", author: "Người tạo",
  created: "Ngày tạo", comment: "Ghi chú", active_version: "Đang chạy", deploy_history: "Lịch sử triển khai",
  open: "Mở", edit_copy: "Sửa thành phiên bản mới", new_from_example: "Kế hoạch mới",
  diff_from: "Từ phiên bản", diff_to: "Đến phiên bản", export: "Xuất JSON", import: "Nhập JSON", diff: "So sánh", diff_title: "So sánh phiên bản {a} và {b}",
  no_versions: "Chưa có phiên bản nào.", no_changes: "Hai phiên bản giống nhau.",
  change_changed: "đổi", change_added: "thêm", change_removed: "bỏ", field: "Trường",
  deploy: "Triển khai", deploy_confirm_title: "Triển khai phiên bản {v}?", deploy_first: "Chưa có kế hoạch đang chạy: toàn bộ phiên bản {v} sẽ được nạp.",
  deploy_diff: "Khác biệt so với phiên bản đang chạy ({v}):",
  stage_pending: "Chờ gửi", stage_transferring: "Truyền", stage_verifying: "Kiểm tra", stage_activating: "Kích hoạt ở ranh giới chu kỳ",
  stage_active: "Đang chạy", stage_rolled_back: "Đã khôi phục kế hoạch cũ", stage_failed: "Thất bại",
  stage_validate: "Kiểm tra hợp lệ", activated: "Đã kích hoạt", deploy_progress: "Tiến trình triển khai phiên bản {v}",
  deploy_reason: "Lý do: {reason}",
  editor: "Soạn kế hoạch", editor_of: "Soạn kế hoạch (dựa trên phiên bản {v})", plan_name: "Tên kế hoạch",
  phases: "Bảng pha", rings_barriers: "Vòng và rào", patterns: "Kịch bản và phân pha", day_plans: "Kế hoạch ngày",
  week: "Tuần", holidays: "Ngày lễ",
  min_green_s: "Xanh tối thiểu (s)", max_green_s: "Xanh tối đa (s)", passage_s: "Giãn cách (s)", yellow_s: "Vàng (s)",
  red_clear_s: "Đỏ giải toả (s)", walk_s: "Đi bộ (s)", ped_clear_s: "Giải toả đi bộ (s)", ped_actuated: "Nút bấm đi bộ",
  approach_speed_kph: "Tốc độ (km/h)", grade_pct: "Độ dốc (%)", clearing_width_m: "Bề rộng (m)", crosswalk_m: "Vạch qua đường (m)",
  cycle_s: "Chu kỳ (s)", offset_s: "Lệch pha (s)", coord_phases: "Pha phối hợp", split_n: "Pha {n} (s)",
  ring_n: "Vòng {n} (thứ tự pha)", barrier_n: "Rào {n} (các pha)", at: "Giờ", event_action: "Hành động",
  day_plan_n: "Kế hoạch ngày {n}", date: "Ngày", weekday_mon: "Thứ Hai", weekday_tue: "Thứ Ba", weekday_wed: "Thứ Tư",
  weekday_thu: "Thứ Năm", weekday_fri: "Thứ Sáu", weekday_sat: "Thứ Bảy", weekday_sun: "Chủ Nhật",
  ev_pattern: "kịch bản", ev_free: "tự do", ev_flash: "nhấp nháy",
  validating: "Đang kiểm tra…", valid: "Hợp lệ", errors_n: "{n} lỗi", warnings_n: "{n} cảnh báo",
  errors: "Lỗi", warnings: "Cảnh báo", save_version: "Lưu phiên bản mới", saved: "Đã lưu phiên bản {v}",
  fix_errors_first: "Hãy sửa hết lỗi trước khi lưu.", required_found: "cần {required}; hiện {found}",
  plan_level: "Toàn kế hoạch", bad_json: "Tệp không phải JSON hợp lệ: {reason}", imported: "Đã nhập {name}",
  alarms: "Cảnh báo", active_alarms: "Đang hoạt động", history: "Lịch sử", kind: "Loại", device: "Thiết bị",
  site: "Khu vực", raised: "Phát sinh", cleared: "Hết", acked: "Đã xác nhận", ack: "Xác nhận", ack_note: "Ghi chú xác nhận",
  acked_by: "{user} xác nhận lúc {time}", no_alarms: "Không có cảnh báo.", severity: "Mức độ", status: "Trạng thái",
  alarm_active: "đang có", alarm_cleared: "đã hết", detail: "Chi tiết",
  sev_critical: "nghiêm trọng", sev_major: "lớn", sev_minor: "nhỏ",
  devices: "Thiết bị", circuit_n: "Mạch {n}", on: "Bật", off: "Tắt", level: "Mức",
  not_found: "Không tìm thấy trang này.", intersection_missing: "Không có nút giao {id}.",
};

const en = {
  app: "signalight", sign_in_title: "Sign in", user: "User name", password: "Password", sign_in: "Sign in",
  signing_in: "Signing in…", bad_login: "Wrong user name or password",
  locked: "Account locked, try again later", sign_out: "Sign out", session_lost: "Your session ended; please sign in again.",
  lang_other: "Tiếng Việt", lang_label: "Language", network_error: "Cannot reach the server",
  nav: "Main navigation", nav_intersections: "Intersections", nav_devices: "Devices", nav_alarms: "Alarms",
  conn_connecting: "Connecting…", conn_live: "Live", conn_stale: "Stale", conn_offline: "Offline",
  conn_signed_out: "Signed out", conn_since: "data from {time}",
  loading: "Loading…", failed_load: "Could not load: {reason}", retry: "Retry", none: "—", close: "Close",
  cancel: "Cancel", confirm: "Confirm", save: "Save", back: "Back",
  filter: "Filter by name, id…", sort_by: "Sort by", all: "All",
  online: "online", offline: "offline", unknown: "unknown",
  gateway_offline: "gateway offline", gateway_restarted: "waiting for its gateway",
  signal_controller: "Signal controller", lighting_cabinet: "Lighting cabinet",
  devices_count: "{n} devices · {online} online", intersections_count: "{n} intersections",
  col_intersection: "Intersection", col_mode: "Mode", col_pattern: "Pattern", col_source: "Control source",
  col_alarms: "Alarms", col_comm: "Comm", col_compliance: "Schedule compliance", col_updated: "Updated",
  mode_coordinated: "Coordinated", mode_free: "Free", mode_flash: "Flash", mode_manual_hold: "Pattern hold",
  mode_preempt: "Preempt", mode_dark: "Dark", mode_unknown: "Unknown",
  source_schedule: "Schedule", source_central: "Central",
  flash_conflict: "Conflict flash", flash_local: "Local flash", flash_central: "Central flash",
  flash_startup: "Start-up flash", flash_schedule: "Scheduled flash", flash_none: "Flash",
  compliance_agree: "On schedule", compliance_mismatch: "Off schedule", compliance_skipped: "Not checked",
  no_intersections: "No intersections yet.", no_match: "Nothing matches.",
  phase: "Phase", ped: "Pedestrian", cycle_timer: "Cycle timer", cycle: "Cycle", pattern: "Pattern",
  scheduled: "Scheduled", running: "Running", ring: "Ring {n}", barrier: "Barrier", phase_n: "Phase {n}",
  ph_green: "green", ph_yellow: "yellow", ph_red: "red", ph_dark: "dark", ph_flash_yellow: "flashing yellow",
  ph_flash_red: "flashing red", ped_walk: "walk", ped_ped_clear: "clearance", ped_dont_walk: "don't walk", ped_dark: "dark",
  ring_barrier: "Ring-barrier diagram (pattern {p}, cycle {c} s)", no_plan_shown: "No plan deployed yet.",
  detectors: "Detector calls", no_calls: "none", backup_timer: "Backup timer", backup_left: "{s} left", flash_cause: "Flash cause",
  control_panel: "Manual control", held_by: "{user} holds control until {until}",
  no_manual: "Running its schedule; no manual control.", action: "Action",
  act_hold_pattern: "Hold pattern", act_free: "Run free", act_flash: "Yellow flash",
  duration: "Duration", minutes: "{n} min", hours: "{n} h", reason: "Reason", reason_needed: "Enter a reason.",
  start_control: "Start", release: "Release to schedule", reset_conflict: "Reset conflict",
  confirm_control: "{action} until {until}?", sent: "Command sent…", succeeded: "Succeeded", failed: "Failed",
  expired: "Expired", pending: "Waiting for the device", refused: "Refused",
  conflict_no_release: "A conflict flash cannot be released to schedule: the conflict monitor has latched. An engineer must inspect the cabinet, then reset the conflict.",
  reset_engineer_only: "Only an engineer may reset a conflict.",
  reset_refused: "The device refused the reset: the conflict's cause is still there.",
  control_view_only: "You may only watch.",
  plans: "Timing plans", versions: "Versions", version: "Version", author: "Author",
  created: "Created", comment: "Comment", active_version: "Running", deploy_history: "Deploy history",
  open: "Open", edit_copy: "Edit as a new version", new_from_example: "New plan",
  diff_from: "From version", diff_to: "To version", export: "Export JSON", import: "Import JSON", diff: "Compare", diff_title: "Version {a} against {b}",
  no_versions: "No versions yet.", no_changes: "The two versions are the same.",
  change_changed: "changed", change_added: "added", change_removed: "removed", field: "Field",
  deploy: "Deploy", deploy_confirm_title: "Deploy version {v}?", deploy_first: "No plan is running: all of version {v} will be loaded.",
  deploy_diff: "Differences from the running version ({v}):",
  stage_pending: "Queued", stage_transferring: "Transfer", stage_verifying: "Verify", stage_activating: "Activate at the cycle boundary",
  stage_active: "Active", stage_rolled_back: "Rolled back", stage_failed: "Failed",
  stage_validate: "Validate", activated: "Activated", deploy_progress: "Deploying version {v}",
  deploy_reason: "Reason: {reason}",
  editor: "Plan editor", editor_of: "Plan editor (from version {v})", plan_name: "Plan name",
  phases: "Phase table", rings_barriers: "Rings and barriers", patterns: "Patterns and splits", day_plans: "Day plans",
  week: "Week", holidays: "Holidays",
  min_green_s: "Min green (s)", max_green_s: "Max green (s)", passage_s: "Passage (s)", yellow_s: "Yellow (s)",
  red_clear_s: "Red clearance (s)", walk_s: "Walk (s)", ped_clear_s: "Ped clearance (s)", ped_actuated: "Ped push button",
  approach_speed_kph: "Speed (km/h)", grade_pct: "Grade (%)", clearing_width_m: "Width (m)", crosswalk_m: "Crosswalk (m)",
  cycle_s: "Cycle (s)", offset_s: "Offset (s)", coord_phases: "Coordinated phases", split_n: "Phase {n} (s)",
  ring_n: "Ring {n} (phase order)", barrier_n: "Barrier {n} (phases)", at: "Time", event_action: "Action",
  day_plan_n: "Day plan {n}", date: "Date", weekday_mon: "Monday", weekday_tue: "Tuesday", weekday_wed: "Wednesday",
  weekday_thu: "Thursday", weekday_fri: "Friday", weekday_sat: "Saturday", weekday_sun: "Sunday",
  ev_pattern: "pattern", ev_free: "free", ev_flash: "flash",
  validating: "Validating…", valid: "Valid", errors_n: "{n} errors", warnings_n: "{n} warnings",
  errors: "Errors", warnings: "Warnings", save_version: "Save as a new version", saved: "Saved as version {v}",
  fix_errors_first: "Fix every error before saving.", required_found: "required {required}; found {found}",
  plan_level: "Whole plan", bad_json: "The file is not valid JSON: {reason}", imported: "Imported {name}",
  alarms: "Alarms", active_alarms: "Active", history: "History", kind: "Kind", device: "Device",
  site: "Site", raised: "Raised", cleared: "Cleared", acked: "Acknowledged", ack: "Acknowledge", ack_note: "Acknowledgement note",
  acked_by: "acknowledged by {user} at {time}", no_alarms: "No alarms.", severity: "Severity", status: "Status",
  alarm_active: "active", alarm_cleared: "cleared", detail: "Detail",
  sev_critical: "critical", sev_major: "major", sev_minor: "minor",
  devices: "Devices", circuit_n: "Circuit {n}", on: "On", off: "Off", level: "Level",
  not_found: "There is no such page.", intersection_missing: "No intersection {id}.",
};

export const TABLES = { vi, en };

for (const [a, b] of [["vi", "en"], ["en", "vi"]]) {
  const missing = Object.keys(TABLES[a]).filter((k) => !(k in TABLES[b]));
  if (missing.length) console.error(`i18n: keys in ${a} missing from ${b}: ${missing.join(", ")}`);
}

/** Add a screen's own strings (`api/static/i18n/<area>.js` calls this at import), so each screen keeps its
 * words beside it. Both languages must bring the same keys, and no key may be taken twice. */
export function addStrings(area, { vi: more_vi, en: more_en }) {
  const a = Object.keys(more_vi), b = Object.keys(more_en);
  const missing = a.filter((k) => !(k in more_en)).concat(b.filter((k) => !(k in more_vi)));
  if (missing.length) console.error(`i18n ${area}: keys not in both languages: ${missing.join(", ")}`);
  const taken = a.filter((k) => k in vi && vi[k] !== more_vi[k]);
  if (taken.length) console.error(`i18n ${area}: keys already taken: ${taken.join(", ")}`);
  Object.assign(vi, more_vi);
  Object.assign(en, more_en);
}

/** The string `key` in the current language, with `{name}` placeholders filled from `vars`. */
export function t(key, vars = {}) {
  const table = TABLES[state.lang] || vi;
  let s = table[key];
  if (s === undefined) {
    console.error(`i18n: no string ${key}`);
    s = key;
  }
  return s.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

/** `key` if the table has it, else null: for values that come from devices (modes, reasons) and may be new. */
export function tMaybe(key, vars) { return key in (TABLES[state.lang] || vi) ? t(key, vars) : null; }

const locale = () => (state.lang === "vi" ? "vi-VN" : "en-GB");

/** A number in the language's format (Vietnamese: 1.234,5). */
export function fmtNum(value, digits = 0) {
  if (value === null || value === undefined || !Number.isFinite(Number(value))) return t("none");
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: digits, minimumFractionDigits: 0 }).format(Number(value));
}

/** Date and time in the site's time zone, in the language's format (Vietnamese: 14:05:09 02/12/2026). */
export function fmtDateTime(iso, { seconds = true, date = true } = {}) {
  if (!iso) return t("none");
  const d = iso instanceof Date ? iso : new Date(iso);
  if (Number.isNaN(d.getTime())) return t("none");
  return new Intl.DateTimeFormat(locale(), {
    timeZone: state.tz, hour: "2-digit", minute: "2-digit", ...(seconds ? { second: "2-digit" } : {}),
    ...(date ? { day: "2-digit", month: "2-digit", year: "numeric" } : {}), hour12: false,
  }).format(d);
}

/** A duration in seconds as m:ss or h:mm:ss. */
export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return t("none");
  const s = Math.max(0, Math.round(seconds));
  const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  const pad = (n) => String(n).padStart(2, "0");
  return hh ? `${hh}:${pad(mm)}:${pad(ss)}` : `${mm}:${pad(ss)}`;
}
