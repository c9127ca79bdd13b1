using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Moq;

namespace TtydPorts.AspNetCore.Tests;

/// <summary>
/// Error answers and conventions of the endpoints, on a real host whose manager is a Moq mock of
/// <see cref="ITtydSessionManager"/> (so the failures can be made to happen). No ttyd is started.
/// </summary>
public sealed class ErrorTranslationTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Mock<ITtydSessionManager> Manager()
    {
        var manager = new Mock<ITtydSessionManager>(MockBehavior.Strict);
        manager.Setup(m => m.CleanupAllAsync(It.IsAny<CancellationToken>())).ReturnsAsync(CleanupResult.Empty);
        manager.Setup(m => m.AdoptAsync(It.IsAny<CancellationToken>())).Returns(ValueTask.CompletedTask); // the hosted service, at start
        return manager;
    }

    private static Task<ApiHost> StartAsync(Mock<ITtydSessionManager> manager, Action<WebApplicationBuilder>? configure = null, Action<RouteGroupBuilderHolder>? endpoints = null) =>
        ApiHost.StartAsync(19090, 19099, b =>
        {
            b.Services.AddSingleton(manager.Object);
            configure?.Invoke(b);
        }, endpoints);

    [Fact]
    public async Task An_unexpected_exception_is_a_500_with_a_generic_message_and_no_stack_trace()
    {
        var manager = Manager();
        manager.Setup(m => m.GetStatus()).Throws(new InvalidOperationException("secret detail in /etc/lab.conf"));
        await using var host = await StartAsync(manager);

        using var response = await host.Client.GetAsync("/api/ttyd/status", Ct);
        var body = await response.Content.ReadAsStringAsync(Ct);

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Equal("""{"status":"error","message":"An unexpected error occurred; the server log has the details."}""", body);
    }

    [Fact]
    public async Task An_engine_that_does_not_answer_is_a_503_with_the_libraries_message()
    {
        var manager = Manager();
        manager.Setup(m => m.CleanupUserAsync("alice", It.IsAny<CancellationToken>()))
            .ThrowsAsync(new ContainerEngineException("The Docker engine at unix:///x.sock did not answer: refused"));
        await using var host = await StartAsync(manager);

        using var response = await host.Client.PostAsJsonAsync("/api/ttyd/cleanup", new { user_id = "alice" }, Ct);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var json = await TtydEndpointsTests.ReadJsonAsync(response);
        Assert.Equal("error", json.GetProperty("status").GetString());
        Assert.Equal("The Docker engine at unix:///x.sock did not answer: refused", json.GetProperty("message").GetString());
    }

    [Fact]
    public async Task A_terminal_that_could_not_be_stopped_makes_cleanup_a_500_that_names_its_container()
    {
        var manager = Manager();
        var session = new TtydSession { Container = "r1", Port = 19091, Process = new ProcessIdentity(12345, 1), UserId = "alice", StartedAt = DateTimeOffset.UnixEpoch };
        manager.Setup(m => m.CleanupUserAsync("alice", It.IsAny<CancellationToken>()))
            .ReturnsAsync(new CleanupResult { Stopped = [], Failed = [new StopFailure { Session = session, Error = new ProcessStopException("pid 12345 survived SIGKILL") }] });
        await using var host = await StartAsync(manager);

        using var response = await host.Client.PostAsJsonAsync("/api/ttyd/cleanup", new { user_id = "alice" }, Ct);

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        var message = (await TtydEndpointsTests.ReadJsonAsync(response)).GetProperty("message").GetString();
        Assert.Equal("Stopped 0 terminal(s) of user 'alice'; 1 could not be stopped: container 'r1': pid 12345 survived SIGKILL", message);
    }

    [Fact]
    public async Task The_returned_group_takes_RequireAuthorization_so_anonymous_callers_get_401_and_stop_nothing()
    {
        var manager = Manager();
        await using var host = await StartAsync(
            manager,
            b =>
            {
                b.Services.AddAuthentication().AddBearerToken();
                b.Services.AddAuthorization();
            },
            e => e.Group.RequireAuthorization());

        using var status = await host.Client.GetAsync("/api/ttyd/status", Ct);
        using var cleanup = await host.Client.PostAsync("/api/ttyd/cleanup", null, Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, status.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, cleanup.StatusCode);
        // (GetStatus may run: the background repair adopts sessions at start; the endpoints themselves must not act.)
        manager.Verify(m => m.CleanupAllAsync(It.IsAny<CancellationToken>()), Times.Never);
        manager.Verify(m => m.CleanupUserAsync(It.IsAny<string>(), It.IsAny<CancellationToken>()), Times.Never);
    }

    [Fact]
    public async Task Endpoints_a_host_adds_to_the_group_get_the_same_error_format()
    {
        var manager = Manager();
        manager.Setup(m => m.EnsureSessionAsync("r9", "alice", null, It.IsAny<CancellationToken>()))
            .ThrowsAsync(new ContainerNotFoundException("r9"));
        await using var host = await StartAsync(manager, endpoints: e =>
            e.Group.MapGet("open", async (ITtydSessionManager m) => (await m.EnsureSessionAsync("r9", "alice"))?.Port));

        using var response = await host.Client.GetAsync("/api/ttyd/open", Ct);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("Container 'r9' does not exist.", (await TtydEndpointsTests.ReadJsonAsync(response)).GetProperty("message").GetString());
    }

    [Theory]
    [InlineData(SessionLimitScope.Global, "30")]
    [InlineData(SessionLimitScope.User, null)]
    public async Task A_session_limit_is_a_429_with_retry_after_only_for_the_manager_wide_limit(SessionLimitScope scope, string? retryAfter)
    {
        var manager = Manager();
        manager.Setup(m => m.EnsureSessionAsync("r9", "alice", null, It.IsAny<CancellationToken>()))
            .ThrowsAsync(new SessionLimitExceededException(scope, 2, "alice", "r9"));
        await using var host = await StartAsync(manager, endpoints: e =>
            e.Group.MapGet("open", async (ITtydSessionManager m) => (await m.EnsureSessionAsync("r9", "alice"))?.Port));

        using var response = await host.Client.GetAsync("/api/ttyd/open", Ct);

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal(retryAfter, response.Headers.RetryAfter?.Delta?.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var message = (await TtydEndpointsTests.ReadJsonAsync(response)).GetProperty("message").GetString();
        Assert.Contains("the most allowed", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_create_a_cleanup_won_over_is_a_409_that_names_the_cleanup_while_other_library_failures_stay_500()
    {
        var manager = Manager();
        manager.Setup(m => m.EnsureSessionAsync("r9", "alice", null, It.IsAny<CancellationToken>()))
            .ThrowsAsync(new SessionCleanedUpException("r9", StopReason.User));
        manager.Setup(m => m.EnsureSessionAsync("r8", "alice", null, It.IsAny<CancellationToken>()))
            .ThrowsAsync(new TtydStartException("ttyd did not start."));
        await using var host = await StartAsync(manager, endpoints: e =>
            e.Group.MapGet("open/{container}", async (string container, ITtydSessionManager m) => (await m.EnsureSessionAsync(container, "alice"))?.Port));

        using var raced = await host.Client.GetAsync("/api/ttyd/open/r9", Ct);
        using var failed = await host.Client.GetAsync("/api/ttyd/open/r8", Ct);

        Assert.Equal(HttpStatusCode.Conflict, raced.StatusCode);
        Assert.Contains("a cleanup (User)", (await TtydEndpointsTests.ReadJsonAsync(raced)).GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.InternalServerError, failed.StatusCode);
    }

    [Fact]
    public async Task A_body_a_host_endpoint_cannot_read_as_json_is_a_400_that_names_no_type()
    {
        var manager = Manager();
        await using var host = await StartAsync(manager, endpoints: e =>
            e.Group.MapPost("typed", async (HttpRequest request) => (await request.ReadFromJsonAsync<OpenRequest>())!.Container));

        using var bad = await host.Client.PostAsync("/api/ttyd/typed", new StringContent("""{"container":42}""", System.Text.Encoding.UTF8, "application/json"), Ct);
        using var good = await host.Client.PostAsJsonAsync("/api/ttyd/typed", new { container = "r1" }, Ct);

        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        var message = (await TtydEndpointsTests.ReadJsonAsync(bad)).GetProperty("message").GetString();
        Assert.Equal("The request body is not valid JSON of the shape this endpoint takes.", message);
        Assert.Equal(HttpStatusCode.OK, good.StatusCode);
    }

    public sealed record OpenRequest(string Container);
}
