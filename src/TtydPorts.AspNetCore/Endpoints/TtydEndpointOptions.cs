namespace TtydPorts.AspNetCore;

/// <summary>How <c>MapTtydEndpoints</c> and <c>WithTtydErrorHandling</c> answer.</summary>
public sealed class TtydEndpointOptions
{
    /// <summary>
    /// The shape of error answers. Default <see cref="TtydErrorFormat.Envelope"/>, the seed's
    /// <c>{"status":"error","message":"..."}</c>, which its clients read; successful answers keep the seed's shape in
    /// either format.
    /// </summary>
    public TtydErrorFormat ErrorFormat { get; set; } = TtydErrorFormat.Envelope;
}

/// <summary>The shape of the endpoints' error answers.</summary>
public enum TtydErrorFormat
{
    /// <summary>The seed's <c>{"status":"error","message":"..."}</c>, as <c>application/json</c>.</summary>
    Envelope,

    /// <summary>
    /// RFC 9457 problem details (<c>application/problem+json</c>): <c>status</c>, a <c>title</c> per status code and a
    /// <c>detail</c> with the same text the envelope's <c>message</c> carries.
    /// </summary>
    ProblemDetails,
}
