package tidewatch.peer;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.GZIPInputStream;

/**
 * Reads one labelled series exactly as tidewatch does (src/detect/series.rs `read_series` with
 * the columns `timestamp` and `value`, as `tidewatch evaluate` calls it), so that row i here is
 * row i there: the header's BOM is dropped, columns are found by name ignoring case and
 * surrounding spaces, fields may be double-quoted, blank lines are skipped, every other line is
 * a row. A value that is empty, not a number or not finite is kept as a missing value (NaN
 * here, `None` there); a label is 1 when it parses as a number above 0. A timestamp that cannot
 * be read is an error, as it is for tidewatch.
 */
final class LabelledCsv {
    /**
     * The times (epoch milliseconds), values (NaN when missing) and labels of a series, and
     * whether the file had a label column.
     */
    record Series(long[] millis, double[] values, boolean[] labels, boolean labelled) {
        int size() {
            return millis.length;
        }
    }

    private LabelledCsv() {}

    static Series read(Path path) throws IOException {
        String text = readAll(path);
        String[] lines = text.split("\n", -1);
        if (lines.length == 0 || text.isEmpty()) {
            throw new IOException(path + ": the file is empty; expected a CSV header line");
        }
        List<String> header = splitCsv(stripBom(lines[0]));
        int ti = column(header, "timestamp");
        int vi = column(header, "value");
        int li = column(header, "label");
        if (ti < 0 || vi < 0) {
            throw new IOException(path + ":1: no `timestamp` or `value` column; the header has " + header);
        }
        int n = lines.length;
        long[] millis = new long[n];
        double[] values = new double[n];
        boolean[] labels = new boolean[n];
        int rows = 0;
        for (int number = 2; number <= n; number++) {
            String line = lines[number - 1];
            if (line.strip().isEmpty()) {
                continue;
            }
            List<String> fields = splitCsv(line);
            String timeText = ti < fields.size() ? fields.get(ti).strip() : "";
            Long t = parseTimestamp(timeText);
            if (t == null) {
                throw new IOException(path + ":" + number + ": `" + timeText + "` is not a timestamp");
            }
            millis[rows] = t;
            double v = vi < fields.size() ? parseF64(fields.get(vi).strip()) : Double.NaN;
            values[rows] = Double.isFinite(v) ? v : Double.NaN;
            if (li >= 0) {
                double l = li < fields.size() ? parseF64(fields.get(li).strip()) : Double.NaN;
                labels[rows] = !Double.isNaN(l) && l > 0.0;
            }
            rows++;
        }
        return new Series(
            java.util.Arrays.copyOf(millis, rows),
            java.util.Arrays.copyOf(values, rows),
            java.util.Arrays.copyOf(labels, rows),
            li >= 0);
    }

    private static String readAll(Path path) throws IOException {
        try (InputStream raw = Files.newInputStream(path)) {
            boolean gz = path.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".gz");
            // GZIPInputStream reads concatenated members, like flate2's MultiGzDecoder.
            InputStream in = gz ? new GZIPInputStream(raw, 1 << 16) : raw;
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    private static String stripBom(String s) {
        int i = 0;
        while (i < s.length() && s.charAt(i) == '\uFEFF') {
            i++;
        }
        return s.substring(i);
    }

    private static int column(List<String> header, String name) {
        for (int i = 0; i < header.size(); i++) {
            if (header.get(i).strip().equalsIgnoreCase(name)) {
                return i;
            }
        }
        return -1;
    }

    /** src/detect/series.rs `split_csv`: quotes honoured, `""` inside quotes is a quote. */
    static List<String> splitCsv(String line) {
        List<String> out = new ArrayList<>(4);
        StringBuilder field = new StringBuilder();
        boolean quoted = false;
        for (int i = 0; i < line.length(); i++) {
            char c = line.charAt(i);
            if (c == '"' && quoted && i + 1 < line.length() && line.charAt(i + 1) == '"') {
                field.append('"');
                i++;
            } else if (c == '"') {
                quoted = !quoted;
            } else if (c == ',' && !quoted) {
                out.add(field.toString());
                field.setLength(0);
            } else if ((c == '\r' || c == '\n') && !quoted) {
                // dropped, as tidewatch drops them
            } else {
                field.append(c);
            }
        }
        out.add(field.toString());
        return out;
    }

    // Rust's f64 grammar: digits with an optional point and exponent, or inf/infinity/nan.
    private static final Pattern F64 =
        Pattern.compile("[+-]?(?:(?:\\d+\\.?\\d*|\\.\\d+)(?:[eE][+-]?\\d+)?|(?i:inf|infinity|nan))");

    /** Rust's `str::parse::<f64>()`: NaN when it would fail. */
    static double parseF64(String s) {
        if (!F64.matcher(s).matches()) {
            return Double.NaN;
        }
        String lower = s.toLowerCase(Locale.ROOT);
        if (lower.endsWith("nan")) {
            return Double.NaN;
        }
        if (lower.endsWith("inf") || lower.endsWith("infinity")) {
            return lower.startsWith("-") ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY;
        }
        return Double.parseDouble(s);
    }

    private static final Pattern ZONED = Pattern.compile(
        "(\\d{4})-(\\d{1,2})-(\\d{1,2})[Tt ](\\d{1,2}):(\\d{1,2}):(\\d{1,2})(\\.\\d+)?([Zz]|[+-]\\d{2}:?\\d{2})");
    private static final Pattern APACHE = Pattern.compile(
        "(\\d{1,2})/([A-Za-z]{3})/(\\d{4}):(\\d{1,2}):(\\d{1,2}):(\\d{1,2}) ([+-]\\d{2}:?\\d{2})");
    private static final Pattern ISO_NAIVE = Pattern.compile(
        "(\\d{4})-(\\d{1,2})-(\\d{1,2})[T ](\\d{1,2}):(\\d{1,2})(?::(\\d{1,2})(\\.\\d+)?)?");
    private static final Pattern US_NAIVE = Pattern.compile(
        "(\\d{1,2})/(\\d{1,2})/(\\d{4}) (\\d{1,2}):(\\d{1,2})(?::(\\d{1,2}))?");
    private static final Pattern SLASH_NAIVE = Pattern.compile(
        "(\\d{4})/(\\d{1,2})/(\\d{1,2}) (\\d{1,2}):(\\d{1,2})(?::(\\d{1,2}))?");
    private static final Pattern ISO_DATE = Pattern.compile("(\\d{4})-(\\d{1,2})-(\\d{1,2})");
    private static final Pattern US_DATE = Pattern.compile("(\\d{1,2})/(\\d{1,2})/(\\d{4})");
    private static final Pattern SLASH_DATE = Pattern.compile("(\\d{4})/(\\d{1,2})/(\\d{1,2})");
    private static final List<String> MONTHS =
        List.of("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec");

    /**
     * src/time.rs `parse_timestamp`: unix seconds or milliseconds (|n| >= 1e11 is
     * milliseconds), RFC 3339 / ISO 8601 with a zone, the Apache log format, and the naive
     * (UTC) forms `YYYY-MM-DD[T ]HH:MM[:SS[.f]]`, `MM/DD/YYYY HH:MM[:SS]`,
     * `YYYY/MM/DD HH:MM[:SS]` and the three date-only forms. Null when none fits.
     */
    static Long parseTimestamp(String text) {
        String t = text.strip();
        if (t.isEmpty()) {
            return null;
        }
        if (F64.matcher(t).matches()) {
            double n = parseF64(t);
            if (!Double.isFinite(n)) {
                return null;
            }
            return Math.abs(n) >= 1e11 ? (long) n : (long) (Math.signum(n) * Math.round(Math.abs(n) * 1000.0));
        }
        try {
            Matcher m;
            if ((m = ZONED.matcher(t)).matches()) {
                long base = utc(m, 1, 2, 3, 4, 5, 6) + fraction(m.group(7));
                return base - offsetMillis(m.group(8));
            }
            if ((m = APACHE.matcher(t)).matches()) {
                int month = MONTHS.indexOf(m.group(2).toLowerCase(Locale.ROOT)) + 1;
                if (month == 0) {
                    return null;
                }
                LocalDateTime dt = LocalDateTime.of(num(m, 3), month, num(m, 1), num(m, 4), num(m, 5), num(m, 6));
                return dt.toInstant(ZoneOffset.UTC).toEpochMilli() - offsetMillis(m.group(7));
            }
            if ((m = ISO_NAIVE.matcher(t)).matches()) {
                return utc(m, 1, 2, 3, 4, 5, 6) + fraction(m.group(7));
            }
            if ((m = US_NAIVE.matcher(t)).matches()) {
                return utc(m, 3, 1, 2, 4, 5, 6);
            }
            if ((m = SLASH_NAIVE.matcher(t)).matches()) {
                return utc(m, 1, 2, 3, 4, 5, 6);
            }
            if ((m = ISO_DATE.matcher(t)).matches()) {
                return date(num(m, 1), num(m, 2), num(m, 3));
            }
            if ((m = US_DATE.matcher(t)).matches()) {
                return date(num(m, 3), num(m, 1), num(m, 2));
            }
            if ((m = SLASH_DATE.matcher(t)).matches()) {
                return date(num(m, 1), num(m, 2), num(m, 3));
            }
        } catch (java.time.DateTimeException e) {
            return null;
        }
        return null;
    }

    private static int num(Matcher m, int group) {
        String g = m.group(group);
        return g == null ? 0 : Integer.parseInt(g);
    }

    private static long utc(Matcher m, int y, int mo, int d, int h, int mi, int s) {
        return LocalDateTime.of(num(m, y), num(m, mo), num(m, d), num(m, h), num(m, mi), num(m, s))
            .toInstant(ZoneOffset.UTC)
            .toEpochMilli();
    }

    private static long date(int y, int m, int d) {
        return LocalDate.of(y, m, d).atStartOfDay().toInstant(ZoneOffset.UTC).toEpochMilli();
    }

    private static long fraction(String f) {
        if (f == null) {
            return 0;
        }
        String digits = (f.substring(1) + "000").substring(0, 3);
        return Long.parseLong(digits);
    }

    private static long offsetMillis(String z) {
        if (z.equalsIgnoreCase("z")) {
            return 0;
        }
        String d = z.replace(":", "");
        int sign = d.charAt(0) == '-' ? -1 : 1;
        int hh = Integer.parseInt(d.substring(1, 3));
        int mm = Integer.parseInt(d.substring(3, 5));
        return sign * (hh * 3_600_000L + mm * 60_000L);
    }
}
