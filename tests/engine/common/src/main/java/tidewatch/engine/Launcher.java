package tidewatch.engine;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The part of the launchers that does not depend on the engine: arguments, node settings,
 * start-up report, stopping. Not a Maven module: every launcher compiles this directory with
 * its own sources (see {@code compileSourceRoots} in {@code tests/engine/pom.xml}), so each one
 * still builds alone.
 *
 * <p>Arguments: {@code [--port N]} (default 0: a free port), {@code [--watch-stdin]} (stop when
 * standard input reaches end of file, so the node dies with the test process that spawned it).
 * For a cluster of several launchers (the two-node tests): {@code --node I} (node
 * {@code tidewatch-test-I}; node 0 is the one cluster-manager-eligible node, the others hold
 * data only), {@code --transport-port N}, {@code --seed-hosts HOST:PORT,...} (without it the
 * node is a single-node cluster) and {@code --home DIR} (kept when the node stops, so a node
 * killed and started again with the same directory comes back with its data).
 * Once the cluster is healthy it prints {@code TIDEWATCH_ENGINE_URL=http://127.0.0.1:PORT} and
 * {@code TIDEWATCH_ENGINE_VERSION=...} on stdout; logs go to stderr. SIGTERM and stdin EOF stop
 * the node and delete its temporary data directory.
 */
final class Launcher {
    private Launcher() {}

    /** One embedded node, in terms of the engine's own classes. */
    interface Node {
        void start() throws Exception;

        /** Waits up to {@code seconds} for yellow: null once yellow, else the status it timed out at. */
        String awaitYellow(int seconds) throws Exception;

        int httpPort();

        /** Closes the node and waits up to {@code seconds} for it to finish closing. */
        void close(int seconds) throws Exception;
    }

    /** Makes the node from its settings (what {@code Settings.builder().put(k, v)} takes). */
    interface Factory {
        Node create(Map<String, String> settings) throws Exception;
    }

    /**
     * Starts a node made by {@code factory}, reports it as {@code engine version} (e.g.
     * {@code opensearch 2.19.6}) and runs until stdin ends (with {@code --watch-stdin}) or the
     * process is stopped.
     */
    static void run(String[] args, String engine, Object version, Factory factory) throws Exception {
        long started = System.nanoTime();
        Options options = Options.parse(args);
        boolean keep = options.home != null;
        Path home = keep ? Files.createDirectories(Path.of(options.home))
                : Files.createTempDirectory("tidewatch-" + engine + "-");
        Map<String, String> settings = settings(engine, options, home);
        Node node = factory.create(settings);
        AtomicBoolean stopped = new AtomicBoolean(false);
        Runnable stop = () -> {
            if (stopped.compareAndSet(false, true)) {
                try {
                    node.close(10);
                } catch (Exception e) {
                    System.err.println("tidewatch-engine: error while stopping: " + e);
                }
                if (!keep) {
                    deleteTree(home);
                }
            }
        };
        Runtime.getRuntime().addShutdownHook(new Thread(stop, "tidewatch-engine-shutdown"));
        node.start();
        String timedOut = node.awaitYellow(60);
        if (timedOut != null) {
            System.err.println("tidewatch-engine: cluster did not turn yellow within 60s: " + timedOut);
            System.exit(2);
        }
        int port = node.httpPort();
        long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
        System.out.println("TIDEWATCH_ENGINE_VERSION=" + engine + " " + version);
        System.out.println("TIDEWATCH_ENGINE_STARTUP_MS=" + millis);
        System.out.println("TIDEWATCH_ENGINE_URL=http://127.0.0.1:" + port);
        System.out.flush();
        if (options.watchStdin) {
            waitForEof(System.in);
            System.exit(0);
        } else {
            Thread.currentThread().join();
        }
    }

    /** The node's settings: a single-node cluster, or one node of a cluster with {@code --seed-hosts}. */
    static Map<String, String> settings(String engine, Options options, Path home) {
        String name = "tidewatch-test-" + options.node;
        Map<String, String> settings = new LinkedHashMap<>();
        settings.put("cluster.name", "tidewatch-test");
        settings.put("node.name", name);
        settings.put("path.home", home.toString());
        settings.put("path.data", home.resolve("data").toString());
        settings.put("path.logs", home.resolve("logs").toString());
        settings.put("network.host", "127.0.0.1");
        settings.put("http.port", Integer.toString(options.port));
        settings.put("transport.port", Integer.toString(options.transportPort));
        if (options.seedHosts == null) {
            settings.put("discovery.type", "single-node");
        } else {
            settings.put("discovery.seed_hosts", options.seedHosts);
            if (options.node == 0) {
                // The one cluster-manager-eligible node bootstraps the cluster alone, so losing
                // any other node never costs the cluster its quorum.
                String initial = engine.equals("opensearch")
                        ? "cluster.initial_cluster_manager_nodes" : "cluster.initial_master_nodes";
                settings.put(initial, name);
            } else {
                settings.put("node.roles", "data,ingest");
            }
        }
        settings.put("cluster.routing.allocation.disk.threshold_enabled", "false");
        settings.put("action.auto_create_index", "true");
        settings.put("http.cors.enabled", "false");
        return settings;
    }

    /** Command-line options. */
    static final class Options {
        int port = 0;
        boolean watchStdin = false;
        int node = 0;
        int transportPort = 0;
        String seedHosts = null;
        String home = null;

        static Options parse(String[] args) {
            Options o = new Options();
            for (int i = 0; i < args.length; i++) {
                switch (args[i]) {
                    case "--port" -> o.port = Integer.parseInt(args[++i]);
                    case "--watch-stdin" -> o.watchStdin = true;
                    case "--node" -> o.node = Integer.parseInt(args[++i]);
                    case "--transport-port" -> o.transportPort = Integer.parseInt(args[++i]);
                    case "--seed-hosts" -> o.seedHosts = args[++i];
                    case "--home" -> o.home = args[++i];
                    default -> throw new IllegalArgumentException("unknown argument `" + args[i]
                            + "`; expected --port N, --watch-stdin, --node I, --transport-port N,"
                            + " --seed-hosts HOST:PORT,... or --home DIR");
                }
            }
            return o;
        }
    }

    static void waitForEof(InputStream in) throws IOException {
        byte[] buf = new byte[256];
        while (in.read(buf) >= 0) {
            // discard
        }
    }

    static void deleteTree(Path root) {
        try (var paths = Files.walk(root)) {
            paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            System.err.println("tidewatch-engine: could not delete " + root + ": " + e);
        }
    }
}
