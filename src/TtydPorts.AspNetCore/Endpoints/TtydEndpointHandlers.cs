using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace TtydPorts.AspNetCore;

internal static class TtydEndpointHandlers
{
    /// <summary>Largest cleanup body read; a <c>{"user_id":"..."}</c> with the longest valid id is far below.</summary>
    internal const int MaxBodyBytes = 16 * 1024;

    private const string Success = "success";
    private const string Error = "error";

    public static IResult Status(ITtydSessionManager manager)
    {
        var status = manager.GetStatus();
        // The seed's figures: every tracked session holds its terminal's endpoint and one ttyd.
        var names = status.Containers;
        var data = new StatusData(status.ActiveSessions, names.Count, names.Count, names, names);
        return Results.Json(new StatusResponse(Success, data), TtydWireJson.Default.StatusResponse);
    }

    public static async Task<IResult> CleanupAsync(HttpContext context, ITtydSessionManager manager, ILoggerFactory loggers, TtydErrorFormat format)
    {
        var logger = loggers.CreateLogger(typeof(TtydEndpointHandlers).FullName!);
        var (userId, rejection) = await ReadCleanupRequestAsync(context.Request, context.RequestAborted).ConfigureAwait(false);
        if (rejection is not null)
        {
            // A PathString prints percent-encoded; the message may quote request text (the Content-Type) as it came.
            Log.RequestRejected(logger, context.Request.Method, context.Request.Path, LogText.OneLine(rejection.Value.Message));
            return ErrorResult(rejection.Value.Message, rejection.Value.StatusCode, format);
        }

        if (userId is not null)
        {
            SessionIds.ThrowIfInvalidId(userId, "user_id"); // the filter makes this a 400 that quotes the value
        }

        var result = userId is null
            ? await manager.CleanupAllAsync(context.RequestAborted).ConfigureAwait(false)
            : await manager.CleanupUserAsync(userId, context.RequestAborted).ConfigureAwait(false);
        var scope = userId is null ? "all users" : $"user '{userId}'";
        Log.CleanupDone(logger, scope, result.Stopped.Count, result.Failed.Count);

        if (!result.Succeeded)
        {
            var failures = string.Join("; ", result.Failed.Select(f => $"container '{f.Session.Container}': {f.Error.Message}"));
            return ErrorResult(
                $"Stopped {result.Stopped.Count} terminal(s) of {scope}; {result.Failed.Count} could not be stopped: {failures}",
                StatusCodes.Status500InternalServerError,
                format);
        }

        return Results.Json(
            new MessageResponse(Success, $"Stopped {result.Stopped.Count} terminal(s) of {scope}."),
            TtydWireJson.Default.MessageResponse);
    }

    /// <summary>
    /// The cleanup request, strictly: only <c>application/json</c> (a cross-site form or <c>text/plain</c> POST cannot send
    /// it without a CORS preflight), an empty body (the seed's clients) or <c>{"all":true}</c> for every user,
    /// <c>{"user_id":"..."}</c> for one; anything else is refused, so that a typo never widens to "every user".
    /// </summary>
    /// <returns>The user id, or <see langword="null"/> for every user; or why the request is refused.</returns>
    private static async Task<(string? UserId, (string Message, int StatusCode)? Rejection)> ReadCleanupRequestAsync(
        HttpRequest request, CancellationToken cancellationToken)
    {
        if (!request.HasJsonContentType())
        {
            return (null, ($"Cleanup takes only a JSON request (Content-Type: application/json), not '{request.ContentType ?? "(none)"}'; nothing was stopped.",
                StatusCodes.Status415UnsupportedMediaType));
        }

        if (request.ContentLength > MaxBodyBytes)
        {
            return (null, ($"The request body is over {MaxBodyBytes} bytes.", StatusCodes.Status413PayloadTooLarge));
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[4096];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > MaxBodyBytes)
            {
                return (null, ($"The request body is over {MaxBodyBytes} bytes.", StatusCodes.Status413PayloadTooLarge));
            }

            buffer.Write(chunk, 0, read);
        }

        var body = buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
        if (body.Span.Trim(" \t\r\n"u8).IsEmpty)
        {
            return (null, null); // the seed's "no body": every user
        }

        return ParseCleanupBody(body);
    }

    private const string CleanupShape = "send {\"user_id\":\"...\"} for one user, or {\"all\":true} (or an empty body) for every user";

    private static (string? UserId, (string Message, int StatusCode)? Rejection) Bad(string message) =>
        (null, ($"{message}; nothing was stopped.", StatusCodes.Status400BadRequest));

    private static (string? UserId, (string Message, int StatusCode)? Rejection) ParseCleanupBody(ReadOnlyMemory<byte> body)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException e)
        {
            return Bad($"The request body is not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}): {CleanupShape}");
        }

        using (document)
        {
            try
            {
                return ReadCleanupObject(document.RootElement);
            }
            catch (InvalidOperationException)
            {
                // The parser accepts an escaped lone surrogate ("\ud800"); reading such a name or string as .NET text throws.
                return Bad($"The request body holds a string that is not valid Unicode (a lone UTF-16 surrogate escape): {CleanupShape}");
            }
        }
    }

    private static (string? UserId, (string Message, int StatusCode)? Rejection) ReadCleanupObject(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            return Bad($"The request body is {Kind(root)}, not a JSON object: {CleanupShape}");
        }

        JsonElement? user = null, all = null;
        var unknown = new List<string>();
        foreach (var property in root.EnumerateObject())
        {
            switch (property.Name)
            {
                case "user_id" when user is null:
                    user = property.Value;
                    break;
                case "all" when all is null:
                    all = property.Value;
                    break;
                case "user_id" or "all":
                    return Bad($"The field '{property.Name}' is given twice");
                default:
                    unknown.Add(property.Name);
                    break;
            }
        }

        if (unknown.Count > 0)
        {
            var names = string.Join(", ", unknown.Take(5).Select(n => "'" + JsonEncodedText.Encode(n.Length > 64 ? n[..64] + "..." : n) + "'"));
            return Bad($"Unknown field(s) {names} in the cleanup request (the fields are 'user_id' and 'all')");
        }

        if (user is not null && all is not null)
        {
            return Bad("Give either 'user_id' or 'all', not both");
        }

        if (user is { } id)
        {
            return id.ValueKind == JsonValueKind.String
                ? (id.GetString(), null)
                : Bad($"'user_id' must be a string, not {Kind(id)}: {CleanupShape}");
        }

        if (all is { } a)
        {
            return a.ValueKind == JsonValueKind.True
                ? (null, null)
                : Bad($"'all' can only be true, not {Kind(a)}: {CleanupShape}");
        }

        return Bad($"The cleanup request names no user: {CleanupShape}");
    }

    private static string Kind(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Null => "null",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Number => "a number",
        JsonValueKind.String => "a string",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        _ => "empty",
    };

    public static async ValueTask<object?> TranslateErrorsAsync(EndpointFilterInvocationContext invocation, EndpointFilterDelegate next, TtydErrorFormat format)
    {
        try
        {
            return await next(invocation).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (invocation.HttpContext.RequestAborted.IsCancellationRequested)
        {
            throw; // the client went away; there is no one to answer
        }
        catch (Exception e)
        {
            var (statusCode, message) = e switch
            {
                // The serializer's message names the target type ("could not be converted to Foo.Bar"): say what is wrong instead.
                JsonException => (StatusCodes.Status400BadRequest, "The request body is not valid JSON of the shape this endpoint takes."),
                BadHttpRequestException { InnerException: JsonException } bad => (bad.StatusCode, "The request body is not valid JSON of the shape this endpoint takes."),
                BadHttpRequestException bad => (bad.StatusCode, bad.Message),
                ArgumentException argument => (StatusCodes.Status400BadRequest, WithoutParameterSuffix(argument)),
                ContainerNotFoundException => (StatusCodes.Status404NotFound, e.Message),

                // Who holds the container, and in which topology, is for the log only.
                SessionConflictException { HeldByAnotherUser: true } conflict =>
                    (StatusCodes.Status409Conflict, $"Container '{conflict.Existing.Container}' is held by another user."),
                SessionConflictException conflict =>
                    (StatusCodes.Status409Conflict, $"Container '{conflict.Existing.Container}' already has a terminal of another topology."),
                // A cleanup of the same user, topology or node won the race: the request conflicts with it, nothing is left.
                SessionCleanedUpException => (StatusCodes.Status409Conflict, e.Message),
                SessionLimitExceededException => (StatusCodes.Status429TooManyRequests, e.Message),
                ContainerEngineException => (StatusCodes.Status503ServiceUnavailable, e.Message),
                TtydPortsException => (StatusCodes.Status500InternalServerError, e.Message),
                _ => (StatusCodes.Status500InternalServerError, "An unexpected error occurred; the server log has the details."),
            };

            var http = invocation.HttpContext;
            var logger = http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(TtydEndpointHandlers).FullName!);
            if (statusCode >= StatusCodes.Status500InternalServerError)
            {
                Log.RequestFailed(logger, http.Request.Method, http.Request.Path, e);
            }
            else
            {
                // The message may quote decoded request text (a route value): one line, whatever it holds.
                Log.RequestRejected(logger, http.Request.Method, http.Request.Path, LogText.OneLine(e.Message));
            }

            // A global limit frees up when sessions stop; repair stops dead, orphaned and idle ones on its interval. A user's
            // own limit frees up only when that user closes a terminal: no time to give.
            if (e is SessionLimitExceededException { Scope: SessionLimitScope.Global }
                && http.RequestServices.GetService<IOptions<TtydSessionOptions>>()?.Value.RepairInterval is { } interval)
            {
                http.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(interval.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
            }

            return ErrorResult(message, statusCode, format);
        }
    }

    internal static IResult ErrorResult(string message, int statusCode, TtydErrorFormat format) => format switch
    {
        // The type stays RFC 9110's section for the status (what Results.Problem fills in); hosts that register
        // AddProblemDetails() customise through their IProblemDetailsService, which Results.Problem does not call.
        TtydErrorFormat.ProblemDetails => Results.Problem(detail: message, statusCode: statusCode, title: ProblemTitle(statusCode)),
        _ => Results.Json(new MessageResponse(Error, message), TtydWireJson.Default.MessageResponse, statusCode: statusCode),
    };

    // One short, stable title per status; the detail says what was wrong with this request.
    internal static string ProblemTitle(int statusCode) => statusCode switch
    {
        StatusCodes.Status400BadRequest => "The request is invalid.",
        StatusCodes.Status401Unauthorized => "Authentication is required.",
        StatusCodes.Status404NotFound => "The container does not exist.",
        StatusCodes.Status409Conflict => "The container's terminal conflicts with another user's or a cleanup.",
        StatusCodes.Status413PayloadTooLarge => "The request body is too large.",
        StatusCodes.Status415UnsupportedMediaType => "The request must be JSON.",
        StatusCodes.Status429TooManyRequests => "Too many terminals.",
        StatusCodes.Status503ServiceUnavailable => "The container engine does not answer.",
        _ => "The server could not complete the request.",
    };

    // ArgumentException appends " (Parameter 'name')" to the message; the message already names the value.
    private static string WithoutParameterSuffix(ArgumentException e)
    {
        var suffix = e.ParamName is null ? null : $" (Parameter '{e.ParamName}')";
        return suffix is not null && e.Message.EndsWith(suffix, StringComparison.Ordinal) ? e.Message[..^suffix.Length] : e.Message;
    }
}
