package tidewatch.engine;

import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.elasticsearch.Version;
import org.elasticsearch.action.admin.cluster.health.ClusterHealthResponse;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.core.TimeValue;
import org.elasticsearch.env.Environment;
import org.elasticsearch.http.HttpServerTransport;
import org.elasticsearch.node.InternalSettingsPreparer;
import org.elasticsearch.node.Node;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.reindex.ReindexPlugin;
import org.elasticsearch.transport.Netty4Plugin;

/**
 * Starts one real Elasticsearch 7.17 node in this JVM for tidewatch's cluster tests (arguments
 * and output: {@link Launcher}).
 */
public final class ElasticsearchEngine {
    private ElasticsearchEngine() {}

    /** A node with the HTTP transport on the classpath, as the distribution would load it. */
    static final class EmbeddedNode extends Node {
        EmbeddedNode(Environment environment, Collection<Class<? extends Plugin>> plugins) {
            super(environment, plugins, true);
        }
    }

    public static void main(String[] args) throws Exception {
        Launcher.run(args, "elasticsearch", Version.CURRENT, map -> {
            Settings.Builder settings = Settings.builder();
            map.forEach(settings::put);
            Environment environment = InternalSettingsPreparer.prepareEnvironment(
                    settings.build(), Collections.emptyMap(), null, () -> "tidewatch-test-0");
            return new Embedded(new EmbeddedNode(environment, List.of(Netty4Plugin.class, ReindexPlugin.class)));
        });
    }

    /** {@link Launcher.Node} in Elasticsearch's classes. */
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
