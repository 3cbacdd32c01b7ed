package tidewatch.engine;

import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.opensearch.Version;
import org.opensearch.action.admin.cluster.health.ClusterHealthResponse;
import org.opensearch.common.settings.Settings;
import org.opensearch.common.unit.TimeValue;
import org.opensearch.env.Environment;
import org.opensearch.http.HttpServerTransport;
import org.opensearch.index.reindex.ReindexPlugin;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * Starts one real OpenSearch node in this JVM for tidewatch's cluster tests (arguments and
 * output: {@link Launcher}).
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
        Launcher.run(args, "opensearch", Version.CURRENT, map -> {
            Settings.Builder settings = Settings.builder();
            map.forEach(settings::put);
            Environment environment = InternalSettingsPreparer.prepareEnvironment(
                    settings.build(), Collections.emptyMap(), null, () -> "tidewatch-test-0");
            return new Embedded(new EmbeddedNode(environment, List.of(Netty4Plugin.class, ReindexPlugin.class)));
        });
    }

    /** {@link Launcher.Node} in OpenSearch's classes. */
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
