package tidewatch.engine;

import java.util.Collections;
import java.util.concurrent.TimeUnit;

import org.opensearch.Version;
import org.opensearch.action.admin.cluster.health.ClusterHealthResponse;
import org.opensearch.common.settings.Settings;
import org.opensearch.common.unit.TimeValue;
import org.opensearch.env.Environment;
import org.opensearch.http.HttpServerTransport;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;

/**
 * Starts one real OpenSearch node in this JVM for tidewatch's cluster tests (arguments and
 * output: {@link Launcher}). Shared by the 2.19 launcher and the 3.x one
 * ({@code tests/engine/opensearch3} compiles this directory too); what differs between the
 * lines is in {@link ClasspathNode} ({@code src/v2/java} here, {@code src/main/java} there).
 */
public final class OpenSearchEngine {
    private OpenSearchEngine() {}

    public static void main(String[] args) throws Exception {
        Launcher.run(args, "opensearch", Version.CURRENT, map -> {
            Settings.Builder settings = Settings.builder();
            map.forEach(settings::put);
            Environment environment = InternalSettingsPreparer.prepareEnvironment(
                    settings.build(), Collections.emptyMap(), null, () -> "tidewatch-test-0");
            return new Embedded(ClasspathNode.create(environment));
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
