package tidewatch.engine;

import java.util.List;
import java.util.function.Supplier;

import org.elasticsearch.client.internal.node.NodeClient;
import org.elasticsearch.cluster.metadata.IndexNameExpressionResolver;
import org.elasticsearch.cluster.node.DiscoveryNodes;
import org.elasticsearch.common.settings.ClusterSettings;
import org.elasticsearch.common.settings.IndexScopedSettings;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.common.settings.SettingsFilter;
import org.elasticsearch.plugins.ActionPlugin;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.rest.BaseRestHandler;
import org.elasticsearch.rest.RestController;
import org.elasticsearch.rest.RestHandler;
import org.elasticsearch.rest.RestRequest;
import org.elasticsearch.rest.RestResponse;
import org.elasticsearch.rest.RestStatus;

/**
 * {@code GET /} for the embedded Elasticsearch 8 node.
 *
 * <p>In Elasticsearch 8 the root endpoint lives in the {@code rest-root} module, which is not
 * published to Maven Central. This handler answers with the same fields the module does (node
 * and cluster name, {@code version.number}, build flavor/hash/date, Lucene version, tagline),
 * taken from the running node; everything else the tests use is the real engine.
 */
public final class RootPlugin extends Plugin implements ActionPlugin {
    @Override
    public List<RestHandler> getRestHandlers(Settings settings, RestController controller, ClusterSettings clusterSettings,
            IndexScopedSettings indexScopedSettings, SettingsFilter settingsFilter,
            IndexNameExpressionResolver resolver, Supplier<DiscoveryNodes> nodes) {
        return List.of(new Handler(settings));
    }

    static final class Handler extends BaseRestHandler {
        private final Settings settings;

        Handler(Settings settings) {
            this.settings = settings;
        }

        @Override
        public String getName() {
            return "tidewatch_root_action";
        }

        @Override
        public List<Route> routes() {
            return List.of(new Route(RestRequest.Method.GET, "/"), new Route(RestRequest.Method.HEAD, "/"));
        }

        @Override
        protected RestChannelConsumer prepareRequest(RestRequest request, NodeClient client) {
            org.elasticsearch.Build build = org.elasticsearch.Build.current();
            String json = "{\"name\":\"" + settings.get("node.name", "") + "\","
                    + "\"cluster_name\":\"" + settings.get("cluster.name", "") + "\","
                    + "\"version\":{\"number\":\"" + org.elasticsearch.Version.CURRENT + "\","
                    + "\"build_flavor\":\"" + build.flavor() + "\","
                    + "\"build_type\":\"unknown\","
                    + "\"build_hash\":\"" + build.hash() + "\","
                    + "\"build_date\":\"" + build.date() + "\","
                    + "\"build_snapshot\":false,"
                    + "\"lucene_version\":\"" + org.apache.lucene.util.Version.LATEST + "\"},"
                    + "\"tagline\":\"You Know, for Search\"}";
            return channel -> channel.sendResponse(new RestResponse(RestStatus.OK, "application/json; charset=UTF-8", json));
        }
    }
}
