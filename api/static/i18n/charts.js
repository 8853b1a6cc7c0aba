// Strings of the shared chart and map components (charts.js, map.js).
import { addStrings } from "../i18n.js";

addStrings("charts", {
  vi: {
    chart: "Biểu đồ", chart_time: "Thời gian", chart_no_data: "Không có số liệu trong khoảng này.",
    chart_aria: "{title}, từ {from} đến {to}; số liệu trong bảng bên dưới",
    chart_stats: "nhỏ nhất {min}, trung bình {mean}, lớn nhất {max} {unit}",
    chart_table: "Bảng số liệu", chart_every: "(mỗi {n} điểm lấy một)",
    map: "Bản đồ", map_here: "Bạn ở đây", map_no_tiles: "Không có bản đồ nền: các điểm được vẽ đúng tỉ lệ theo toạ độ.",
    map_unplaced: "{n} mục chưa có toạ độ nên không hiện trên bản đồ.",
  },
  en: {
    chart: "Chart", chart_time: "Time", chart_no_data: "No data in this window.",
    chart_aria: "{title}, from {from} to {to}; the data are in the table below",
    chart_stats: "min {min}, mean {mean}, max {max} {unit}",
    chart_table: "Data table", chart_every: "(every {n}th point)",
    map: "Map", map_here: "You are here", map_no_tiles: "No base map: points are drawn to scale from their coordinates.",
    map_unplaced: "{n} without coordinates, not on the map.",
  },
});
