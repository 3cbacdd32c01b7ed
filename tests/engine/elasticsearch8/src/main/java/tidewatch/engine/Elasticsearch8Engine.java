package tidewatch.engine;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import org.elasticsearch.action.admin.cluster.health.ClusterHealthResponse;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.core.TimeValue;
import org.elasticsearch.http.HttpServerTransport;
import org.elasticsearch.node.Node;
import org.elasticsearch.transport.netty4.Netty4Plugin;

/**
 * Starts one real Elasticsearch 8 node (through the test framework's MockNode) in this JVM for tidewatch's cluster tests.
 *
 * <p>Arguments: {@code [--port N]} (default 0: a free port), {@code [--watch-stdin]} (stop when
 * standard input reaches end of file, so the node dies with the test process that spawned it).
 * Once the cluster is healthy it prints {@code TIDEWATCH_ENGINE_URL=http://127.0.0.1:PORT} and
 * {@code TIDEWATCH_ENGINE_VERSION=...} on stdout; logs go to stderr. SIGTERM and stdin EOF stop
 * the node and delete its temporary data directory.
 */
public final class Elasticsearch8Engine {
    private Elasticsearch8Engine() {}

    public static void main(String[] args) throws Exception {
        long started = System.nanoTime();
        // The test framework jar ships a log4j2-test.properties with ES-only appenders: use ours.
        System.setProperty("log4j2.configurationFile", "log4j2.properties");
        // ES 8 routes its own logging API through a provider the launcher normally installs.
        org.elasticsearch.common.logging.LogConfigurator.configureESLogging();
        Options options = Options.parse(args);
        Path home = Files.createTempDirectory("tidewatch-elasticsearch-");
        Settings settings = Settings.builder()
                .put("cluster.name", "tidewatch-test")
                .put("node.name", "tidewatch-test-0")
                .put("path.home", home.toString())
                .put("path.data", home.resolve("data").toString())
                .put("path.logs", home.resolve("logs").toString())
                .put("network.host", "127.0.0.1")
                .put("http.port", Integer.toString(options.port))
                .put("transport.port", "0")
                .put("discovery.type", "single-node")
                .put("cluster.routing.allocation.disk.threshold_enabled", false)
                .put("action.auto_create_index", true)
                .put("http.cors.enabled", false)
                .build();
        org.elasticsearch.env.Environment environment = org.elasticsearch.node.InternalSettingsPreparer.prepareEnvironment(
                settings, java.util.Collections.emptyMap(), null, () -> "tidewatch-test-0");
        List<Class<? extends org.elasticsearch.plugins.Plugin>> plugins = List.of(Netty4Plugin.class, RootPlugin.class);
        // The public constructor loads plugins from directories; the protected one takes a
        // PluginsService factory, and the test framework's MockPluginsService loads classpath
        // plugins (without touching ESTestCase, which refuses to run as root).
        Node node = new Node(environment,
                s -> new org.elasticsearch.plugins.MockPluginsService(s, environment, plugins), true) {};
        AtomicBoolean stopped = new AtomicBoolean(false);
        Runnable stop = () -> {
            if (stopped.compareAndSet(false, true)) {
                try {
                    node.close();
                    node.awaitClose(10, TimeUnit.SECONDS);
                } catch (Exception e) {
                    System.err.println("tidewatch-engine: error while stopping: " + e);
                }
                Cleanup.deleteTree(home);
            }
        };
        Runtime.getRuntime().addShutdownHook(new Thread(stop, "tidewatch-engine-shutdown"));
        node.start();
        ClusterHealthResponse health = node.client().admin().cluster().prepareHealth()
                .setWaitForYellowStatus()
                .setTimeout(TimeValue.timeValueSeconds(60))
                .get();
        if (health.isTimedOut()) {
            System.err.println("tidewatch-engine: cluster did not turn yellow within 60s: " + health.getStatus());
            System.exit(2);
        }
        int port = node.injector().getInstance(HttpServerTransport.class)
                .boundAddress().publishAddress().getPort();
        long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
        System.out.println("TIDEWATCH_ENGINE_VERSION=elasticsearch " + org.elasticsearch.Version.CURRENT);
        System.out.println("TIDEWATCH_ENGINE_STARTUP_MS=" + millis);
        System.out.println("TIDEWATCH_ENGINE_URL=http://127.0.0.1:" + port);
        System.out.flush();
        if (options.watchStdin) {
            Cleanup.waitForEof(System.in);
            System.exit(0);
        } else {
            Thread.currentThread().join();
        }
    }

    /** Command-line options. */
    static final class Options {
        int port = 0;
        boolean watchStdin = false;

        static Options parse(String[] args) {
            Options o = new Options();
            for (int i = 0; i < args.length; i++) {
                switch (args[i]) {
                    case "--port" -> o.port = Integer.parseInt(args[++i]);
                    case "--watch-stdin" -> o.watchStdin = true;
                    default -> throw new IllegalArgumentException(
                            "unknown argument `" + args[i] + "`; expected --port N or --watch-stdin");
                }
            }
            return o;
        }
    }

    /** Helpers shared by the launcher's start and stop paths. */
    static final class Cleanup {
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
}
