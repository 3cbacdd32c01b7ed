package tidewatch.engine;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import org.opensearch.action.admin.cluster.health.ClusterHealthResponse;
import org.opensearch.common.settings.Settings;
import org.opensearch.common.unit.TimeValue;
import org.opensearch.env.Environment;
import org.opensearch.http.HttpServerTransport;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * Starts one real OpenSearch node in this JVM for tidewatch's cluster tests.
 *
 * <p>Arguments: {@code [--port N]} (default 0: a free port), {@code [--watch-stdin]} (stop when
 * standard input reaches end of file, so the node dies with the test process that spawned it).
 * Once the cluster is healthy it prints {@code TIDEWATCH_ENGINE_URL=http://127.0.0.1:PORT} and
 * {@code TIDEWATCH_ENGINE_VERSION=...} on stdout; logs go to stderr. SIGTERM and stdin EOF stop
 * the node and delete its temporary data directory.
 */
public final class OpenSearchEngine {
    private OpenSearchEngine() {}

    /** A node with the HTTP transport on the classpath, as the distribution would load it. */
    static final class EmbeddedNode extends Node {
        EmbeddedNode(Environment environment, Collection<Class<? extends Plugin>> plugins) {
            super(environment, plugins, true);
        }
    }

    public static void main(String[] args) throws Exception {
        long started = System.nanoTime();
        Options options = Options.parse(args);
        Path home = Files.createTempDirectory("tidewatch-opensearch-");
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
        Environment environment = InternalSettingsPreparer.prepareEnvironment(
                settings, Collections.emptyMap(), null, () -> "tidewatch-test-0");
        Node node = new EmbeddedNode(environment, List.of(Netty4Plugin.class, org.opensearch.index.reindex.ReindexPlugin.class));
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
        System.out.println("TIDEWATCH_ENGINE_VERSION=opensearch " + org.opensearch.Version.CURRENT);
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
