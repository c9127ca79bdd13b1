using Microsoft.Extensions.Logging;

namespace TtydPorts.AspNetCore;

internal static partial class Log
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Error, Message = "Request {Method} {Path} failed")]
    public static partial void RequestFailed(ILogger logger, string method, string path, Exception exception);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Cleanup through the endpoint for {Scope}: {Stopped} stopped, {Failed} failed")]
    public static partial void CleanupDone(ILogger logger, string scope, int stopped, int failed);

    // Refusals (4xx) are logged at Debug: any page a user opens can cause them at will and must not fill the log. Request
    // text goes in through LogText.OneLine, so that it cannot forge lines.
    [LoggerMessage(EventId = 3, Level = LogLevel.Debug, Message = "Rejected {Method} {Path}: {Reason}")]
    public static partial void RequestRejected(ILogger logger, string method, string path, string reason);

    // As RequestRejected: a page the user opens can send the terminal's cookies (same site) and be refused at will.
    [LoggerMessage(EventId = 4, Level = LogLevel.Debug, Message = "Terminal request {Method} for container '{Container}' refused: {Reason}")]
    public static partial void TerminalRejected(ILogger logger, string method, string container, string reason);

    [LoggerMessage(EventId = 5, Level = LogLevel.Warning, Message = "Forwarding to the terminal of container '{Container}' failed: {Error}")]
    public static partial void ForwardFailed(ILogger logger, string container, Yarp.ReverseProxy.Forwarder.ForwarderError error, Exception? exception);

    // The browser left or stopped reading (a page can make its frames do that at will): nothing went wrong on our side.
    [LoggerMessage(EventId = 12, Level = LogLevel.Debug, Message = "Forwarding to the terminal of container '{Container}' ended by the client: {Error}")]
    public static partial void ForwardEndedByClient(ILogger logger, string container, Yarp.ReverseProxy.Forwarder.ForwarderError error);

    [LoggerMessage(EventId = 6, Level = LogLevel.Warning, Message = "ttyd refused the terminal handshake for container '{Container}': {Reason}")]
    public static partial void HandshakeRefused(ILogger logger, string container, string reason);

    [LoggerMessage(EventId = 7, Level = LogLevel.Error, Message = "Relaying the terminal output of container '{Container}' failed")]
    public static partial void RelayFailed(ILogger logger, string container, Exception exception);

    [LoggerMessage(EventId = 8, Level = LogLevel.Debug, Message = "Relayed the terminal of container '{Container}': {DirectBytes} bytes of output straight to the client's socket, {KestrelBytes} through Kestrel, in {Reads} reads of ttyd's output ({BulkWaits} waits after bulk output)")]
    public static partial void Relayed(ILogger logger, string container, long directBytes, long kestrelBytes, long reads, long bulkWaits);

    [LoggerMessage(EventId = 9, Level = LogLevel.Warning, Message = "The browser of container '{Container}''s terminal read none of its output for {Seconds} s; its connection was closed")]
    public static partial void ClientStalled(ILogger logger, string container, double seconds);

    [LoggerMessage(EventId = 10, Level = LogLevel.Debug, Message = "The terminal output of container '{Container}' ended: {Reason}")]
    public static partial void RelayOutputEnded(ILogger logger, string container, string reason);

    [LoggerMessage(EventId = 11, Level = LogLevel.Debug, Message = "ttyd declined the terminal handshake for container '{Container}' with {Status}")]
    public static partial void HandshakeDeclined(ILogger logger, string container, int status);
}
