namespace NetLabBuilder.Sample;

/// <summary>
/// Settings of the NetLab profile (<c>--profile netlab</c>, configuration section <c>NetLab</c>): where the NetLab frontend
/// may call from, and how many nodes each of its topologies gets.
/// </summary>
public sealed class NetLabProfileOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "NetLab";

    /// <summary>Where the profile listens when neither <c>--urls</c> nor <c>ASPNETCORE_URLS</c> says: the frontend's API base.</summary>
    public const string DefaultUrl = "http://localhost:5050";

    /// <summary>
    /// Origins (<c>scheme://host[:port]</c>) whose pages may call the API (CORS) and frame its terminals. Default: the Vite
    /// development server, <c>http://localhost:5173</c> and <c>http://127.0.0.1:5173</c>. No wildcard: every origin is named.
    /// </summary>
    public IList<string> AllowedOrigins { get; } = [];

    /// <summary>
    /// Nodes of each topology the frontend offers (<c>POST /api/start-topology</c>'s <c>topology</c>), as many as the original
    /// backend's scripts start: <c>mini_ring</c> 3, <c>ring</c>, <c>mesh</c>, <c>star</c> 5, <c>tree</c> 8 (its maximum here).
    /// </summary>
    public IDictionary<string, int> Topologies { get; } = new Dictionary<string, int>(StringComparer.Ordinal);

    /// <summary>The settings from configuration, with the defaults where it says nothing; validated.</summary>
    /// <exception cref="ArgumentException">An origin is not a plain http(s) origin, or a node count is out of range.</exception>
    public static NetLabProfileOptions From(IConfiguration configuration)
    {
        var options = new NetLabProfileOptions();
        configuration.GetSection(SectionName).Bind(options);
        if (options.AllowedOrigins.Count == 0)
        {
            options.AllowedOrigins.Add("http://localhost:5173");
            options.AllowedOrigins.Add("http://127.0.0.1:5173");
        }

        foreach (var (name, nodes) in new Dictionary<string, int> { ["mini_ring"] = 3, ["ring"] = 5, ["mesh"] = 5, ["star"] = 5, ["tree"] = 8 })
        {
            options.Topologies.TryAdd(name, nodes);
        }

        for (var i = 0; i < options.AllowedOrigins.Count; i++)
        {
            options.AllowedOrigins[i] = NormalizeOrigin(options.AllowedOrigins[i]);
        }

        foreach (var (name, nodes) in options.Topologies)
        {
            if (nodes is < 1 or > 8)
            {
                throw new ArgumentException($"NetLab:Topologies:{name} = {nodes} is out of range: a topology has 1 to 8 nodes.", nameof(configuration));
            }
        }

        return options;
    }

    // An origin as a browser sends it: scheme, host and a port only when it is not the scheme's default; nothing else.
    private static string NormalizeOrigin(string value)
    {
        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri)
            || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
            || uri.AbsolutePath != "/" || uri.Query.Length > 0 || uri.Fragment.Length > 0 || uri.UserInfo.Length > 0
            || value.Contains('*', StringComparison.Ordinal))
        {
            throw new ArgumentException(
                $"NetLab:AllowedOrigins: '{value}' is not an origin (http[s]://host[:port], no path, no wildcard).", nameof(value));
        }

        return uri.GetLeftPart(UriPartial.Authority).ToLowerInvariant();
    }
}
