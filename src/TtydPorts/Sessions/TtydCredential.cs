using System.Security.Cryptography;
using System.Text;

namespace TtydPorts;

/// <summary>
/// The per-session basic-auth credential ttyd demands (<c>-c</c>). Random per session; its <see cref="ToString"/>
/// never shows the password, so it cannot end up in a log by accident.
/// </summary>
/// <param name="UserName">User name.</param>
/// <param name="Password">Password (32 random bytes, base64url).</param>
public sealed record TtydCredential(string UserName, string Password)
{
    internal static TtydCredential CreateRandom() =>
        new("ttydports", Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_'));

    /// <summary>The value of an <c>Authorization</c> header that ttyd accepts.</summary>
    public string AuthorizationHeaderValue => "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{UserName}:{Password}"));

    /// <summary>Shows the user name only.</summary>
    public override string ToString() => $"TtydCredential {{ UserName = {UserName}, Password = *** }}";
}
