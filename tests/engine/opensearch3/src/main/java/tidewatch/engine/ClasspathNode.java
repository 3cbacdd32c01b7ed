package tidewatch.engine;

import java.util.List;

import org.opensearch.Version;
import org.opensearch.env.Environment;
import org.opensearch.index.reindex.ReindexModulePlugin;
import org.opensearch.node.Node;
import org.opensearch.plugins.PluginInfo;
import org.opensearch.transport.Netty4ModulePlugin;

/**
 * OpenSearch 3.x: the node takes its classpath plugins as {@link PluginInfo} descriptors
 * (what the 3.x test framework's {@code MockNode} builds), not as classes, and the modules'
 * plugin classes were renamed ({@code Netty4ModulePlugin}, {@code ReindexModulePlugin}).
 */
final class ClasspathNode extends Node {
    private ClasspathNode(Environment environment, List<PluginInfo> plugins) {
        super(environment, plugins, true);
    }

    /**
     * A node with the modules the tests need loaded from the classpath, as the distribution
     * would load them: the HTTP transport, and reindex (for {@code _delete_by_query}).
     */
    static Node create(Environment environment) {
        List<PluginInfo> plugins = List.of(Netty4ModulePlugin.class, ReindexModulePlugin.class).stream()
                .map(c -> new PluginInfo(c.getName(), "classpath plugin", "NA", Version.CURRENT,
                        Integer.toString(Runtime.version().feature()), c.getName(), null, List.of(), false))
                .toList();
        return new ClasspathNode(environment, plugins);
    }
}
