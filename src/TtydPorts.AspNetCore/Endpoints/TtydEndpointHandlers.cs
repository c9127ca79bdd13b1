using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

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
        var data = new StatusData(status.ActiveSessions, status.ContainerPorts, status.TtydProcesses, status.Containers, status.Processes);
        return Results.Json(new StatusResponse(Success, data), TtydWireJson.Default.StatusResponse);
    }

    public static async Task<IResult> CleanupAsync(HttpContext context, ITtydSessionManager manager, ILoggerFactory loggers)
    {
        var (request, rejection) = await ReadCleanupRequestAsync(context.Request, context.RequestAborted).ConfigureAwait(false);
        if (rejection is not null)
        {
            Log.RequestRejected(loggers.CreateLogger(typeof(TtydEndpointHandlers).FullName!), context.Request.Method, context.Request.Path, rejection.Value.Message);
            return ErrorResult(rejection.Value.Message, rejection.Value.StatusCode);
        }

        var userId = request?.UserId;
        if (userId is not null)
        {
            SessionIds.ThrowIfInvalidId(userId, "user_id"); // the filter makes this a 400 that quotes the value
        }

        var result = userId is null
            ? await manager.CleanupAllAsync(context.RequestAborted).ConfigureAwait(false)
            : await manager.CleanupUserAsync(userId, context.RequestAborted).ConfigureAwait(false);
        var scope = userId is null ? "all users" : $"user '{userId}'";
        Log.CleanupDone(loggers.CreateLogger(typeof(TtydEndpointHandlers).FullName!), scope, result.Stopped.Count, result.Failed.Count);

        if (!result.Succeeded)
        {
            var failures = string.Join("; ", result.Failed.Select(f => $"container '{f.Session.Container}': {f.Error.Message}"));
            return ErrorResult(
                $"Stopped {result.Stopped.Count} terminal(s) of {scope}; {result.Failed.Count} could not be stopped: {failures}",
                StatusCodes.Status500InternalServerError);
        }

        return Results.Json(
            new MessageResponse(Success, $"Stopped {result.Stopped.Count} terminal(s) of {scope}."),
            TtydWireJson.Default.MessageResponse);
    }

    private static async Task<(CleanupRequest? Request, (string Message, int StatusCode)? Rejection)> ReadCleanupRequestAsync(
        HttpRequest request, CancellationToken cancellationToken)
    {
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
            return (null, null); // no body: every session
        }

        if (!request.HasJsonContentType())
        {
            return (null, ($"The request body must be JSON (Content-Type: application/json), not '{request.ContentType ?? "(none)"}'.",
                StatusCodes.Status415UnsupportedMediaType));
        }

        try
        {
            return (JsonSerializer.Deserialize(body.Span, TtydWireJson.Default.CleanupRequest), null);
        }
        catch (JsonException e)
        {
            return (null, ($"The request body is not a valid JSON object {{\"user_id\":\"...\"}}: {e.Message}", StatusCodes.Status400BadRequest));
        }
    }

    public static async ValueTask<object?> TranslateErrorsAsync(EndpointFilterInvocationContext invocation, EndpointFilterDelegate next)
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
                BadHttpRequestException bad => (bad.StatusCode, bad.Message),
                ArgumentException argument => (StatusCodes.Status400BadRequest, WithoutParameterSuffix(argument)),
                ContainerNotFoundException => (StatusCodes.Status404NotFound, e.Message),
                SessionConflictException => (StatusCodes.Status409Conflict, e.Message),
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
                Log.RequestRejected(logger, http.Request.Method, http.Request.Path, message);
            }

            return ErrorResult(message, statusCode);
        }
    }

    internal static IResult ErrorResult(string message, int statusCode) =>
        Results.Json(new MessageResponse(Error, message), TtydWireJson.Default.MessageResponse, statusCode: statusCode);

    // ArgumentException appends " (Parameter 'name')" to the message; the message already names the value.
    private static string WithoutParameterSuffix(ArgumentException e)
    {
        var suffix = e.ParamName is null ? null : $" (Parameter '{e.ParamName}')";
        return suffix is not null && e.Message.EndsWith(suffix, StringComparison.Ordinal) ? e.Message[..^suffix.Length] : e.Message;
    }
}
