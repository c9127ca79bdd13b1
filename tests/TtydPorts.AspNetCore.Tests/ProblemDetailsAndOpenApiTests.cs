using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Moq;
using NetLabBuilder.Sample;

namespace TtydPorts.AspNetCore.Tests;

/// <summary>
/// The error format option (the seed's envelope, RFC 9457 problem details) and the endpoints' OpenAPI metadata, on a real
/// host whose manager is a Moq mock, so that every failure can be made to happen. No ttyd is started.
/// </summary>
public sealed class ProblemDetailsAndOpenApiTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private sealed class Host(WebApplication app) : IAsyncDisposable
    {
        public HttpClient Client { get; } = new() { BaseAddress = NetLabApp.Addresses(app)[0], Timeout = TimeSpan.FromSeconds(30) };

        public IReadOnlyList<Endpoint> Endpoints => [.. app.Services.GetServices<EndpointDataSource>().SelectMany(d => d.Endpoints)];

        public async ValueTask DisposeAsync()
        {
            Client.Dispose();
            await app.DisposeAsync();
        }
    }

    private static async Task<Host> StartAsync(TtydErrorFormat format)
    {
        var manager = new Mock<ITtydSessionManager>(MockBehavior.Strict);
        manager.Setup(m => m.GetStatus()).Throws(new InvalidOperationException("secret detail in /etc/lab.conf"));
        manager.Setup(m => m.EnsureSessionAsync("r9", "alice", null, It.IsAny<CancellationToken>()))
            .ThrowsAsync(new ContainerNotFoundException("r9"));
        manager.Setup(m => m.EnsureSessionAsync("r8", "alice", null, It.IsAny<CancellationToken>()))
            .ThrowsAsync(new SessionLimitExceededException(SessionLimitScope.Global, 2, "alice", "r8"));
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.SetMinimumLevel(LogLevel.None);
        manager.Setup(m => m.CleanupUserAsync("nobody", It.IsAny<CancellationToken>())).ReturnsAsync(CleanupResult.Empty);
        builder.Services.AddSingleton(manager.Object);
        builder.Services.AddOptions<TtydSessionOptions>(); // Retry-After on a manager-wide limit comes from RepairInterval
        var app = builder.Build();
        var group = format == TtydErrorFormat.Envelope
            ? app.MapTtydEndpoints("/api/ttyd") // the default, with no options at all
            : app.MapTtydEndpoints("/api/ttyd", o => o.ErrorFormat = format);
        group.MapGet("open/{container}", async (string container, ITtydSessionManager m) => (await m.EnsureSessionAsync(container, "alice"))?.Port);
        await app.StartAsync(Ct);
        return new Host(app);
    }

    private static StringContent Json(string body) => new(body, System.Text.Encoding.UTF8, "application/json");

    public static TheoryData<string, string, string?, HttpStatusCode, string> Failures => new()
    {
        { "POST", "/api/ttyd/cleanup", "text/plain:alice", HttpStatusCode.UnsupportedMediaType, "'text/plain; charset=utf-8'" },
        { "POST", "/api/ttyd/cleanup", """{"userId":"alice"}""", HttpStatusCode.BadRequest, "'userId'" },
        { "POST", "/api/ttyd/cleanup", """{"user_id":"../etc"}""", HttpStatusCode.BadRequest, "'../etc'" },
        { "POST", "/api/ttyd/cleanup", "[" + new string(' ', 17 * 1024) + "]", HttpStatusCode.RequestEntityTooLarge, "16384 bytes" },
        { "GET", "/api/ttyd/open/r9", null, HttpStatusCode.NotFound, "Container 'r9' does not exist." },
        { "GET", "/api/ttyd/open/r8", null, HttpStatusCode.TooManyRequests, "the most allowed" },
        { "GET", "/api/ttyd/status", null, HttpStatusCode.InternalServerError, "An unexpected error occurred; the server log has the details." },
    };

    private static async Task<HttpResponseMessage> SendAsync(Host host, string method, string path, string? body)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (body is not null)
        {
            request.Content = body.StartsWith("text/plain:", StringComparison.Ordinal)
                ? new StringContent(body["text/plain:".Length..], System.Text.Encoding.UTF8, "text/plain")
                : Json(body);
        }

        return await host.Client.SendAsync(request, Ct);
    }

    [Theory]
    [MemberData(nameof(Failures))]
    public async Task With_problem_details_errors_are_rfc9457_documents_whose_detail_names_the_bad_value(
        string method, string path, string? body, HttpStatusCode status, string named)
    {
        await using var problems = await StartAsync(TtydErrorFormat.ProblemDetails);
        await using var envelope = await StartAsync(TtydErrorFormat.Envelope);

        using var response = await SendAsync(problems, method, path, body);
        using var seed = await SendAsync(envelope, method, path, body);
        var text = await response.Content.ReadAsStringAsync(Ct);

        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var json = JsonDocument.Parse(text).RootElement;
        Assert.Equal((int)status, json.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrWhiteSpace(json.GetProperty("title").GetString()));
        Assert.Contains(named, json.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.False(json.TryGetProperty("message", out _));
        Assert.DoesNotContain("TtydPorts.", text, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", text, StringComparison.Ordinal);
        Assert.DoesNotContain("/etc/lab.conf", text, StringComparison.Ordinal);

        // The default stays the seed's envelope, with the same status and text.
        Assert.Equal(status, seed.StatusCode);
        Assert.Equal("application/json", seed.Content.Headers.ContentType?.MediaType);
        var old = JsonDocument.Parse(await seed.Content.ReadAsStringAsync(Ct)).RootElement;
        Assert.Equal(["status", "message"], old.EnumerateObject().Select(p => p.Name));
        Assert.Equal("error", old.GetProperty("status").GetString());
        Assert.Equal(json.GetProperty("detail").GetString(), old.GetProperty("message").GetString());
        Assert.Equal(status == HttpStatusCode.TooManyRequests ? "30" : null, response.Headers.RetryAfter?.ToString());
        Assert.Equal(seed.Headers.RetryAfter?.ToString(), response.Headers.RetryAfter?.ToString());
    }

    [Fact]
    public async Task Successful_answers_keep_the_seed_shape_with_problem_details_on()
    {
        await using var host = await StartAsync(TtydErrorFormat.ProblemDetails);

        using var response = await host.Client.PostAsync("/api/ttyd/cleanup", Json("""{"user_id":"nobody"}"""), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement;
        Assert.Equal(["status", "message"], json.EnumerateObject().Select(p => p.Name));
        Assert.Equal("success", json.GetProperty("status").GetString());
        Assert.Equal("Stopped 0 terminal(s) of user 'nobody'.", json.GetProperty("message").GetString());
    }

    [Theory]
    [InlineData(TtydErrorFormat.Envelope)]
    [InlineData(TtydErrorFormat.ProblemDetails)]
    public async Task The_endpoints_carry_openapi_names_summaries_and_the_status_codes_they_really_answer(TtydErrorFormat format)
    {
        await using var host = await StartAsync(format);

        var status = Assert.Single(host.Endpoints, e => e.Metadata.GetMetadata<IEndpointNameMetadata>()?.EndpointName == "TtydStatus");
        var cleanup = Assert.Single(host.Endpoints, e => e.Metadata.GetMetadata<IEndpointNameMetadata>()?.EndpointName == "TtydCleanup");
        var open = Assert.Single(host.Endpoints, e => e is RouteEndpoint { RoutePattern.RawText: "/api/ttyd/open/{container}" });

        Assert.Contains("Status", status.Metadata.GetMetadata<IEndpointSummaryMetadata>()?.Summary, StringComparison.Ordinal);
        Assert.Contains("Stops", cleanup.Metadata.GetMetadata<IEndpointSummaryMetadata>()?.Summary, StringComparison.Ordinal);
        Assert.Contains("ttyd", status.Metadata.GetMetadata<ITagsMetadata>()!.Tags);
        Assert.Equal([200, 500], Codes(status));
        Assert.Equal([200, 400, 413, 415, 500], Codes(cleanup));
        Assert.Equal([200], Codes(open)); // a host's own endpoint: what ASP.NET Core infers, no error codes added for it
        Assert.Contains("application/json", cleanup.Metadata.GetMetadata<IEndpointDescriptionMetadata>()?.Description, StringComparison.Ordinal);
        Assert.Null(cleanup.Metadata.GetMetadata<IAcceptsMetadata>()); // routing would turn it into an empty 415

        var success = Produces(cleanup, 200);
        Assert.Equal("MessageResponse", success.Type?.Name);
        Assert.Contains("application/json", success.ContentTypes);
        var error = Produces(cleanup, 415);
        if (format == TtydErrorFormat.ProblemDetails)
        {
            Assert.Equal(typeof(ProblemDetails), error.Type);
            Assert.Contains("application/problem+json", error.ContentTypes);
        }
        else
        {
            Assert.Equal("MessageResponse", error.Type?.Name);
            Assert.DoesNotContain("application/problem+json", error.ContentTypes);
        }
    }

    private static int[] Codes(Endpoint endpoint) =>
        [.. endpoint.Metadata.GetOrderedMetadata<IProducesResponseTypeMetadata>().Select(m => m.StatusCode).Distinct().Order()];

    private static IProducesResponseTypeMetadata Produces(Endpoint endpoint, int statusCode) =>
        Assert.Single(endpoint.Metadata.GetOrderedMetadata<IProducesResponseTypeMetadata>(), m => m.StatusCode == statusCode);
}
