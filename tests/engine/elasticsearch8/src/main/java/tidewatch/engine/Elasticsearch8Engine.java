package tidewatch.engine;

import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.elasticsearch.Version;
import org.elasticsearch.action.admin.cluster.health.ClusterHealthResponse;
import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.core.TimeValue;
import org.elasticsearch.env.Environment;
import org.elasticsearch.http.HttpServerTransport;
import org.elasticsearch.node.InternalSettingsPreparer;
import org.elasticsearch.node.Node;
import org.elasticsearch.plugins.MockPluginsService;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.transport.netty4.Netty4Plugin;

/**
 * Starts one real Elasticsearch 8 node (through the test framework's MockNode) in this JVM for
 * tidewatch's cluster tests (arguments and output: {@link Launcher}).
 */
public final class Elasticsearch8Engine {
    private Elasticsearch8Engine() {}

    public static void main(String[] args) throws Exception {
        // The test framework jar ships a log4j2-test.properties with ES-only appenders: use ours.
        System.setProperty("log4j2.configurationFile", "log4j2.properties");
        // ES 8 routes its own logging API through a provider the launcher normally installs.
        LogConfigurator.configureESLogging();
        Launcher.run(args, "elasticsearch", Version.CURRENT, map -> {
            Settings.Builder settings = Settings.builder();
            map.forEach(settings::put);
            Environment environment = InternalSettingsPreparer.prepareEnvironment(
                    settings.build(), Collections.emptyMap(), null, () -> "tidewatch-test-0");
            List<Class<? extends Plugin>> plugins = List.of(Netty4Plugin.class, RootPlugin.class);
            // The public constructor loads plugins from directories; the protected one takes a
            // PluginsService factory, and the test framework's MockPluginsService loads classpath
            // plugins (without touching ESTestCase, which refuses to run as root).
            return new Embedded(new Node(environment, s -> new MockPluginsService(s, environment, plugins), true) {});
        });
    }

    /** {@link Launcher.Node} in Elasticsearch 8's classes. */
    record Embedded(Node node) implements Launcher.Node {
        @Override
        public void start() throws Exception {
            node.start();
        }

        @Override
        public String awaitYellow(int seconds) {
            ClusterHealthResponse health = node.client().admin().cluster().prepareHealth()
                    .setWaitForYellowStatus().setTimeout(TimeValue.timeValueSeconds(seconds)).get();
            return health.isTimedOut() ? String.valueOf(health.getStatus()) : null;
        }

        @Override
        public int httpPort() {
            return node.injector().getInstance(HttpServerTransport.class).boundAddress().publishAddress().getPort();
        }

        @Override
        public void close(int seconds) throws Exception {
            node.close();
            node.awaitClose(seconds, TimeUnit.SECONDS);
        }
    }
}
