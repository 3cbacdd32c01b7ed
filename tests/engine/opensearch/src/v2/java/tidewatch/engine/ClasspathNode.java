package tidewatch.engine;

import java.util.List;

import org.opensearch.env.Environment;
import org.opensearch.index.reindex.ReindexPlugin;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

/** OpenSearch 2.x: the node takes its classpath plugins as classes. */
final class ClasspathNode extends Node {
    private ClasspathNode(Environment environment, List<Class<? extends Plugin>> plugins) {
        super(environment, plugins, true);
    }

    /**
     * A node with the modules the tests need loaded from the classpath, as the distribution
     * would load them: the HTTP transport, and reindex (for {@code _delete_by_query}).
     */
    static Node create(Environment environment) {
        return new ClasspathNode(environment, List.of(Netty4Plugin.class, ReindexPlugin.class));
    }
}
