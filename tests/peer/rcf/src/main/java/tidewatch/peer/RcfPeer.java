package tidewatch.peer;

import com.amazon.randomcutforest.config.ForestMode;
import com.amazon.randomcutforest.config.ImputationMethod;
import com.amazon.randomcutforest.config.Precision;
import com.amazon.randomcutforest.config.TransformMethod;
import com.amazon.randomcutforest.parkservices.AnomalyDescriptor;
import com.amazon.randomcutforest.parkservices.ThresholdedRandomCutForest;
import com.amazon.randomcutforest.parkservices.state.ThresholdedRandomCutForestMapper;
import com.amazon.randomcutforest.parkservices.state.ThresholdedRandomCutForestState;
import io.protostuff.LinkedBuffer;
import io.protostuff.ProtostuffIOUtil;
import io.protostuff.Schema;
import io.protostuff.runtime.RuntimeSchema;
import java.io.BufferedWriter;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * The peer: runs AWS Random Cut Forest's {@link ThresholdedRandomCutForest} over every labelled
 * CSV under a directory, one model per file, exactly as OpenSearch Anomaly Detection builds and
 * feeds a real-time single-stream model with default settings, and writes what it says about
 * each row.
 *
 * <p>Usage: {@code RcfPeer DATA_DIR OUT_DIR}. For each {@code DATA_DIR/<rel>.csv[.gz]} with a
 * label column it writes {@code OUT_DIR/<rel>.csv} with the columns {@code timestamp,score,grade}:
 * one row per input row, in input order (rows as tidewatch's reader sees them, see {@link
 * LabelledCsv}); {@code timestamp} is the row's time in unix seconds (what RCF was fed),
 * {@code score} the raw RCF anomaly score ({@code AnomalyDescriptor.getRCFScore()}, about 0-5,
 * not rescaled) and {@code grade} RCF's anomaly grade in [0, 1] ({@code getAnomalyGrade()};
 * AD reports an anomaly when it is above 0). A row RCF was not fed (a missing value before any
 * value was seen, or a timestamp before the previous one) gets score 0 and grade 0; a row
 * repeating the previous row's timestamp gets that row's result (the same bucket to AD). It also
 * writes {@code OUT_DIR/summary.json}: points, model seconds (process() calls only, no CSV
 * parsing or writing), points per second on one core, and bytes per model serialized the way AD
 * checkpoints it.
 *
 * <p>Single-threaded throughout (one file after another, {@code parallelExecutionEnabled(false)}
 * as AD sets it) and deterministic (fixed seed).
 */
public final class RcfPeer {
    // ---- OpenSearch AD's defaults for a real-time model (AD 2.19 / 3.x, checked in the source
    // of opensearch-project/anomaly-detection):
    // src/main/java/org/opensearch/timeseries/settings/TimeSeriesSettings.java
    //   DEFAULT_SHINGLE_SIZE = 8, NUM_TREES = 50, NUM_SAMPLES_PER_TREE = 256,
    //   DEFAULT_RECENCY_EMPHASIS = 10 * NUM_SAMPLES_PER_TREE, NUM_MIN_SAMPLES = 32,
    //   THRESHOLD_MIN_PVALUE = 0.995, REAL_TIME_BOUNDING_BOX_CACHE_RATIO = 0.
    static final int SHINGLE_SIZE = 8;
    static final int NUM_TREES = 50;
    static final int SAMPLE_SIZE = 256;
    static final int RECENCY_EMPHASIS = 10 * SAMPLE_SIZE;
    static final int NUM_MIN_SAMPLES = 32;
    static final double THRESHOLD_MIN_PVALUE = 0.995;
    static final double REAL_TIME_BOUNDING_BOX_CACHE_RATIO = 0;
    /**
     * The bounding-box cache fraction used: AD's real-time 0 unless RCF_PEER_BOX_CACHE says
     * otherwise. The cache trades memory for speed only; the scores and grades do not change
     * (checked: byte-identical outputs at 0 and 1 on all shared KPI and cloud-monitoring files),
     * so a quick look can run at 1, 4-8x faster. The measured points/s are AD's only at 0.
     */
    static final double BOX_CACHE = boxCache();

    private static double boxCache() {
        String env = System.getenv("RCF_PEER_BOX_CACHE");
        return env == null || env.isBlank() ? REAL_TIME_BOUNDING_BOX_CACHE_RATIO : Double.parseDouble(env.strip());
    }
    // src/main/java/org/opensearch/timeseries/model/Config.java: getTimeDecay() = 1 / recencyEmphasis.
    static final double TIME_DECAY = 1.0 / RECENCY_EMPHASIS;
    // src/main/java/org/opensearch/timeseries/ml/ModelColdStart.java:
    //   initialAcceptFraction = numMinSamples * 1.0d / rcfSampleSize (= 0.125).
    static final double INITIAL_ACCEPT_FRACTION = NUM_MIN_SAMPLES * 1.0d / SAMPLE_SIZE;
    // src/main/java/org/opensearch/ad/model/AnomalyDetector.java getDefaultRule(): for each
    // enabled feature, IGNORE_ANOMALY when ACTUAL_OVER_EXPECTED_RATIO <= 0.2 and when
    // EXPECTED_OVER_ACTUAL_RATIO <= 0.2 (used when the detector has no rules);
    // src/main/java/org/opensearch/ad/ml/IgnoreSimilarExtractor.java maps them to
    // ignoreSimilarFromAboveByRatio / ...BelowByRatio, and ADColdStart.applyRule() passes them to
    // ignoreNearExpectedFromAboveByRatio / ignoreNearExpectedFromBelowByRatio.
    static final double DEFAULT_RULE_RATIO = 0.2;
    // AD seeds RCF only in tests (rcfSeed > 0); a fixed seed makes these runs repeatable.
    // RCF_PEER_SEED picks another one (to see how much the figures depend on the seed).
    static final long SEED = seed();

    private static long seed() {
        String env = System.getenv("RCF_PEER_SEED");
        return env == null || env.isBlank() ? 42L : Long.parseLong(env.strip());
    }
    // One feature (the series' value) per model: a single-stream detector with one feature.
    static final int BASE_DIMENSION = 1;
    // TimeSeriesSettings.SERIALIZATION_BUFFER_BYTES: the LinkedBuffer size AD serializes with.
    static final int SERIALIZATION_BUFFER_BYTES = 512;

    /**
     * The model as src/main/java/org/opensearch/ad/ml/ADColdStart.java trainModelFromDataSegments()
     * builds it, in the same order, with the defaults above.
     */
    static ThresholdedRandomCutForest newModel() {
        double[] rule = new double[BASE_DIMENSION];
        Arrays.fill(rule, DEFAULT_RULE_RATIO);
        ThresholdedRandomCutForest.Builder<?> b = ThresholdedRandomCutForest.builder()
            .dimensions(BASE_DIMENSION * SHINGLE_SIZE)
            .sampleSize(SAMPLE_SIZE)
            .numberOfTrees(NUM_TREES)
            .timeDecay(TIME_DECAY)
            .transformDecay(TIME_DECAY)
            .outputAfter(Math.max(SHINGLE_SIZE, NUM_MIN_SAMPLES))
            .initialAcceptFraction(INITIAL_ACCEPT_FRACTION)
            .parallelExecutionEnabled(false)
            .compact(true)
            .precision(Precision.FLOAT_32)
            .boundingBoxCacheFraction(BOX_CACHE)
            .shingleSize(SHINGLE_SIZE)
            .internalShinglingEnabled(true)
            .anomalyRate(1 - THRESHOLD_MIN_PVALUE)
            .transformMethod(TransformMethod.NORMALIZE)
            .alertOnce(true)
            .autoAdjust(true);
        // shingleSize > 1: STREAMING_IMPUTE, and ModelColdStart.applyImputationMethod() with no
        // imputation option configured: "by default using last known value" (PREVIOUS).
        b.forestMode(ForestMode.STREAMING_IMPUTE);
        b.imputationMethod(ImputationMethod.PREVIOUS);
        b.randomSeed(SEED);
        b.ignoreNearExpectedFromAboveByRatio(rule);
        b.ignoreNearExpectedFromBelowByRatio(rule);
        return b.build();
    }

    /** What one file gave. */
    record FileResult(String name, int rows, int fed, int missing, int duplicates, int skipped, int anomalies,
        long modelNanos, long modelWallNanos, int stateBytes, int checkpointChars) {}

    // Model time is this thread's CPU time in process() (one core, whatever else the machine is
    // doing); the wall time of the same calls is reported beside it.
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: RcfPeer DATA_DIR OUT_DIR");
            System.exit(2);
        }
        Path data = Path.of(args[0]);
        Path out = Path.of(args[1]);
        List<Path> files;
        try (Stream<Path> walk = Files.walk(data)) {
            files = walk.filter(Files::isRegularFile).filter(p -> {
                String n = p.getFileName().toString().toLowerCase(Locale.ROOT);
                return n.endsWith(".csv") || n.endsWith(".csv.gz");
            }).sorted().toList();
        }
        ThresholdedRandomCutForestMapper mapper = new ThresholdedRandomCutForestMapper();
        // As AD's TimeSeriesAnalyticsPlugin builds the schema its CheckpointDao uses.
        Schema<ThresholdedRandomCutForestState> schema = RuntimeSchema.getSchema(ThresholdedRandomCutForestState.class);
        List<FileResult> results = new ArrayList<>();
        long wallStart = System.nanoTime();
        for (Path file : files) {
            LabelledCsv.Series s = LabelledCsv.read(file);
            if (!s.labelled()) {
                continue;
            }
            String rel = data.relativize(file).toString().replace('\\', '/');
            String outRel = rel.toLowerCase(Locale.ROOT).endsWith(".gz") ? rel.substring(0, rel.length() - 3) : rel;
            FileResult r = runFile(outRel, s, out.resolve(outRel), mapper, schema);
            results.add(r);
            System.err.printf(Locale.ROOT, "rcf-peer: %s: %d rows, %d anomalous, %.1f s model, %d bytes%n",
                outRel, r.rows(), r.anomalies(), r.modelNanos() / 1e9, r.stateBytes());
        }
        double wall = (System.nanoTime() - wallStart) / 1e9;
        Files.createDirectories(out);
        Files.writeString(out.resolve("summary.json"), summary(data, results, wall), StandardCharsets.UTF_8);
    }

    static FileResult runFile(String name, LabelledCsv.Series s, Path target,
        ThresholdedRandomCutForestMapper mapper, Schema<ThresholdedRandomCutForestState> schema) throws IOException {
        int n = s.size();
        double[] scores = new double[n];
        double[] grades = new double[n];
        ThresholdedRandomCutForest model = newModel();
        long nanos = 0;
        long wallNanos = 0;
        int fed = 0;
        int missing = 0;
        int skipped = 0;
        int anomalies = 0;
        long last = Long.MIN_VALUE;
        int lastFed = -1;
        int duplicates = 0;
        boolean seenValue = false;
        int[] allMissing = new int[] {0};
        for (int i = 0; i < n; i++) {
            double v = s.values()[i];
            boolean isMissing = Double.isNaN(v);
            if (isMissing) {
                missing++;
            }
            // AD feeds epoch seconds of the bucket (Sample.getDataEndTime().getEpochSecond()).
            long seconds = Math.floorDiv(s.millis()[i], 1000L);
            // AD presents a model with each bucket once, in time order. A row repeating the last
            // fed timestamp (the cloud-monitoring files repeat some hours) is that bucket again:
            // it gets that bucket's result. A row before it, or a missing value before the model
            // has any data (cold start drops missing values), is not fed: score 0, grade 0.
            if (seconds == last) {
                duplicates++;
                scores[i] = scores[lastFed];
                grades[i] = grades[lastFed];
                continue;
            }
            if (seconds < last || (isMissing && !seenValue)) {
                skipped++;
                continue;
            }
            AnomalyDescriptor d;
            long c0 = THREADS.getCurrentThreadCpuTime();
            long t0 = System.nanoTime();
            // A fresh array per bucket, as AD passes each Sample's own value list.
            double[] point = new double[] {v};
            if (isMissing) {
                // As AD's real-time path (ModelManager.score): NaN features, their indices missing.
                d = model.process(point, seconds, allMissing);
            } else {
                d = model.process(point, seconds);
            }
            wallNanos += System.nanoTime() - t0;
            nanos += THREADS.getCurrentThreadCpuTime() - c0;
            seenValue |= !isMissing;
            last = seconds;
            lastFed = i;
            fed++;
            if (d != null) {
                scores[i] = d.getRCFScore();
                grades[i] = d.getAnomalyGrade();
                if (grades[i] > 0) {
                    anomalies++;
                }
            }
        }
        // The final state, as AD's CheckpointDao.toCheckpoint(): mapper -> state -> protostuff,
        // stored Base64-encoded in the checkpoint document.
        LinkedBuffer buffer = LinkedBuffer.allocate(SERIALIZATION_BUFFER_BYTES);
        byte[] bytes = ProtostuffIOUtil.toByteArray(mapper.toState(model), schema, buffer);
        int base64 = Base64.getEncoder().encodeToString(bytes).length();
        write(target, s, scores, grades);
        return new FileResult(name, n, fed, missing, duplicates, skipped, anomalies, nanos, wallNanos, bytes.length, base64);
    }

    static void write(Path target, LabelledCsv.Series s, double[] scores, double[] grades) throws IOException {
        Files.createDirectories(target.toAbsolutePath().getParent());
        try (BufferedWriter w = Files.newBufferedWriter(target, StandardCharsets.UTF_8)) {
            StringBuilder line = new StringBuilder(64);
            w.write("timestamp,score,grade\n");
            for (int i = 0; i < s.size(); i++) {
                line.setLength(0);
                long ms = s.millis()[i];
                if (ms % 1000 == 0) {
                    line.append(ms / 1000);
                } else {
                    line.append(String.format(Locale.ROOT, "%.3f", ms / 1000.0));
                }
                line.append(',').append(num(scores[i])).append(',').append(num(grades[i])).append('\n');
                w.write(line.toString());
            }
        }
    }

    private static String num(double x) {
        return x == 0 ? "0" : Double.toString(x);
    }

    static String summary(Path data, List<FileResult> results, double wall) {
        long points = 0;
        long fed = 0;
        long nanos = 0;
        long wallNanos = 0;
        int[] bytes = new int[results.size()];
        int[] chars = new int[results.size()];
        for (int i = 0; i < results.size(); i++) {
            FileResult r = results.get(i);
            points += r.rows();
            fed += r.fed();
            nanos += r.modelNanos();
            wallNanos += r.modelWallNanos();
            bytes[i] = r.stateBytes();
            chars[i] = r.checkpointChars();
        }
        double modelSeconds = nanos / 1e9;
        StringBuilder j = new StringBuilder();
        j.append("{\n");
        j.append("  \"peer\": \"Random Cut Forest (randomcutforest-parkservices ")
            .append(ThresholdedRandomCutForest.class.getPackage().getImplementationVersion() == null
                ? "4.4.0" : ThresholdedRandomCutForest.class.getPackage().getImplementationVersion())
            .append(") ThresholdedRandomCutForest with OpenSearch AD's real-time defaults\",\n");
        j.append("  \"data\": ").append(str(data.toString())).append(",\n");
        j.append("  \"settings\": {\"shingle_size\": ").append(SHINGLE_SIZE)
            .append(", \"internal_shingling\": true, \"number_of_trees\": ").append(NUM_TREES)
            .append(", \"sample_size\": ").append(SAMPLE_SIZE)
            .append(", \"time_decay\": ").append(TIME_DECAY)
            .append(", \"transform_decay\": ").append(TIME_DECAY)
            .append(", \"output_after\": ").append(Math.max(SHINGLE_SIZE, NUM_MIN_SAMPLES))
            .append(", \"initial_accept_fraction\": ").append(INITIAL_ACCEPT_FRACTION)
            .append(", \"anomaly_rate\": ").append(1 - THRESHOLD_MIN_PVALUE)
            .append(", \"transform_method\": \"NORMALIZE\", \"forest_mode\": \"STREAMING_IMPUTE\"")
            .append(", \"imputation_method\": \"PREVIOUS\", \"alert_once\": true, \"auto_adjust\": true")
            .append(", \"ignore_near_expected_from_above_by_ratio\": ").append(DEFAULT_RULE_RATIO)
            .append(", \"ignore_near_expected_from_below_by_ratio\": ").append(DEFAULT_RULE_RATIO)
            .append(", \"compact\": true, \"precision\": \"FLOAT_32\", \"bounding_box_cache_fraction\": ")
            .append(BOX_CACHE)
            .append(", \"parallel_execution\": false, \"random_seed\": ").append(SEED).append("},\n");
        j.append("  \"columns\": \"timestamp (unix seconds), score (raw RCF anomaly score), grade (RCF anomaly grade 0..1; AD alerts at > 0)\",\n");
        j.append("  \"files\": ").append(results.size()).append(",\n");
        j.append("  \"points\": ").append(points).append(",\n");
        j.append("  \"points_fed\": ").append(fed).append(",\n");
        j.append("  \"model_seconds\": ").append(round(modelSeconds, 3)).append(",\n");
        j.append("  \"model_seconds_meaning\": \"CPU time of the one thread in ThresholdedRandomCutForest.process(), CSV parsing, writing and serialization excluded\",\n");
        j.append("  \"model_wall_seconds\": ").append(round(wallNanos / 1e9, 3)).append(",\n");
        j.append("  \"points_per_second_one_core\": ").append(round(fed / Math.max(modelSeconds, 1e-9), 0)).append(",\n");
        j.append("  \"wall_seconds_total\": ").append(round(wall, 3)).append(",\n");
        j.append("  \"bytes_per_model\": {\"serialization\": \"ThresholdedRandomCutForestMapper.toState + protostuff (RuntimeSchema), as AD's CheckpointDao\", \"mean\": ")
            .append(round(mean(bytes), 0)).append(", \"median\": ").append(median(bytes))
            .append(", \"min\": ").append(Arrays.stream(bytes).min().orElse(0))
            .append(", \"max\": ").append(Arrays.stream(bytes).max().orElse(0))
            .append(", \"base64_checkpoint_chars_mean\": ").append(round(mean(chars), 0)).append("},\n");
        j.append("  \"per_file\": [\n");
        for (int i = 0; i < results.size(); i++) {
            FileResult r = results.get(i);
            j.append("    {\"file\": ").append(str(r.name()))
                .append(", \"rows\": ").append(r.rows())
                .append(", \"fed\": ").append(r.fed())
                .append(", \"missing_values\": ").append(r.missing())
                .append(", \"repeated_timestamps\": ").append(r.duplicates())
                .append(", \"not_fed\": ").append(r.skipped())
                .append(", \"rows_with_grade_above_0\": ").append(r.anomalies())
                .append(", \"model_seconds\": ").append(round(r.modelNanos() / 1e9, 3))
                .append(", \"state_bytes\": ").append(r.stateBytes())
                .append("}").append(i + 1 < results.size() ? ",\n" : "\n");
        }
        j.append("  ]\n}\n");
        return j.toString();
    }

    private static double mean(int[] xs) {
        return xs.length == 0 ? 0 : Arrays.stream(xs).average().orElse(0);
    }

    private static double median(int[] xs) {
        if (xs.length == 0) {
            return 0;
        }
        int[] s = xs.clone();
        Arrays.sort(s);
        int m = s.length / 2;
        return s.length % 2 == 1 ? s[m] : (s[m - 1] + s[m]) / 2.0;
    }

    private static String round(double x, int digits) {
        if (digits == 0) {
            return Long.toString(Math.round(x));
        }
        return String.format(Locale.ROOT, "%." + digits + "f", x);
    }

    private static String str(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }
}
