// Strings of the citizens' public report page (report.js): plain words, no jargon, Vietnamese first.
import { addStrings } from "../i18n.js";

addStrings("citizen_report", {
  vi: {
    rp_title: "Báo sự cố chiếu sáng", rp_intro: "Thấy đường tối hay đèn hỏng? Báo cho đội chiếu sáng, không cần tài khoản.",
    rp_where: "Ở đâu?", rp_use_location: "Dùng vị trí hiện tại", rp_locating: "Đang lấy vị trí…",
    rp_located: "Đã lấy vị trí (sai số khoảng {m} m).", rp_no_location: "Không lấy được vị trí: hãy nhập toạ độ.",
    rp_lat: "Vĩ độ", rp_lon: "Kinh độ", rp_what: "Sự cố gì?",
    cat_dark_street: "Đường tối", cat_broken_lamp: "Đèn hỏng", cat_day_burning: "Đèn sáng ban ngày",
    cat_damaged_pole: "Cột đèn hư hỏng", cat_other: "Khác",
    rp_text: "Mô tả ngắn (không bắt buộc)", rp_chars: "{n}/500 ký tự", rp_photo: "Ảnh (không bắt buộc, tối đa {mb} MB)",
    rp_send: "Gửi báo cáo", rp_sending: "Đang gửi…", rp_thanks: "Cảm ơn bạn! Mã báo cáo của bạn:",
    rp_keep: "Hãy lưu mã này để tra cứu tình trạng xử lý.", rp_photo_sent: "Đã gửi ảnh.",
    rp_photo_failed: "Không gửi được ảnh: {reason}", rp_need_location: "Hãy cho biết vị trí (vĩ độ và kinh độ).",
    rp_need_category: "Hãy chọn loại sự cố.", rp_bad_field: "Thông tin chưa đúng: {field}",
    rp_lookup: "Tra cứu báo cáo", rp_reference: "Mã báo cáo", rp_check: "Tra cứu", rp_status: "Tình trạng: {status}",
    rp_not_found: "Không tìm thấy mã báo cáo này.", rp_new: "Gửi báo cáo khác", rp_map: "Vị trí đã chọn",
    rp_privacy: "Chúng tôi không lưu tên hay số điện thoại của bạn.",
    rp_choose_photo: "Chọn hoặc chụp ảnh", rp_no_photo: "Chưa chọn ảnh",
  },
  en: {
    rp_title: "Report a street-lighting problem", rp_intro: "A dark street or a broken lamp? Tell the lighting crews, no account needed.",
    rp_where: "Where?", rp_use_location: "Use my location", rp_locating: "Finding your location…",
    rp_located: "Location found (within about {m} m).", rp_no_location: "Could not get your location: enter the coordinates.",
    rp_lat: "Latitude", rp_lon: "Longitude", rp_what: "What is wrong?",
    cat_dark_street: "Dark street", cat_broken_lamp: "Broken lamp", cat_day_burning: "Lamp on by day",
    cat_damaged_pole: "Damaged pole", cat_other: "Other",
    rp_text: "A few words (optional)", rp_chars: "{n}/500 characters", rp_photo: "Photo (optional, up to {mb} MB)",
    rp_send: "Send the report", rp_sending: "Sending…", rp_thanks: "Thank you! Your report reference:",
    rp_keep: "Keep this reference to check how it is going.", rp_photo_sent: "Photo sent.",
    rp_photo_failed: "The photo was not sent: {reason}", rp_need_location: "Give the location (latitude and longitude).",
    rp_need_category: "Choose what is wrong.", rp_bad_field: "Please check: {field}",
    rp_lookup: "Check a report", rp_reference: "Report reference", rp_check: "Check", rp_status: "Status: {status}",
    rp_not_found: "No report with this reference.", rp_new: "Send another report", rp_map: "The chosen place",
    rp_privacy: "We do not keep your name or phone number.",
    rp_choose_photo: "Choose or take a photo", rp_no_photo: "No photo chosen",
  },
});
