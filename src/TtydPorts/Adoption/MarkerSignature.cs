using System.Security.Cryptography;
using System.Text;

namespace TtydPorts;

/// <summary>
/// Authenticates a session's environment markers with HMAC-SHA256 under the instance key (<see cref="RuntimeFolder"/>).
/// Another local user can put any <c>TTYDPORTS_*</c> variable into a process of theirs, but cannot read the key, so
/// cannot make a signature that verifies. Every marker but the signature itself is covered, in ordinal order.
/// </summary>
internal static class MarkerSignature
{
    public const string Marker = "TTYDPORTS_MAC";

    public static string Compute(byte[] key, IEnumerable<KeyValuePair<string, string>> markers)
    {
        var text = new StringBuilder();
        foreach (var (name, value) in markers.Where(m => m.Key.StartsWith(TtydProcessDiscovery.MarkerPrefix, StringComparison.Ordinal) && m.Key != Marker)
                     .OrderBy(m => m.Key, StringComparer.Ordinal))
        {
            // Names and values hold no NUL (the environment cannot carry one), so NUL separators are unambiguous.
            text.Append(name).Append('\0').Append(value).Append('\0');
        }

        return Convert.ToHexStringLower(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(text.ToString())));
    }

    public static bool Verify(byte[] key, IReadOnlyDictionary<string, string> markers) =>
        markers.TryGetValue(Marker, out var given) && given.Length == 64
        && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Compute(key, markers)), Encoding.ASCII.GetBytes(given));
}
