using System.Buffers;

namespace TtydPorts;

/// <summary>
/// The rules for the names this library accepts. Container names follow Docker's rule
/// <c>[a-zA-Z0-9][a-zA-Z0-9_.-]*</c>; user and topology ids follow <c>[a-zA-Z0-9][a-zA-Z0-9_.@-]*</c>
/// (so e-mail addresses and GUIDs pass). Both are at most 255 characters. Anything else (empty, shell
/// metacharacters, path separators, control characters) is rejected, since these values reach a command line,
/// process environments and URLs.
/// </summary>
public static class SessionIds
{
    /// <summary>Longest accepted name or id.</summary>
    public const int MaxLength = 255;

    private static readonly SearchValues<char> ContainerChars =
        SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-");

    private static readonly SearchValues<char> IdChars =
        SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.@-");

    /// <summary>Whether <paramref name="name"/> is a valid container name.</summary>
    public static bool IsValidContainerName(string? name) => IsValid(name, ContainerChars);

    /// <summary>Whether <paramref name="id"/> is a full Docker container id: 64 lowercase hex digits.</summary>
    internal static bool IsValidContainerId(string? id) => id is { Length: 64 } && id.All(char.IsAsciiHexDigitLower);

    /// <summary>Whether <paramref name="id"/> is a valid user or topology id.</summary>
    public static bool IsValidId(string? id) => IsValid(id, IdChars);

    /// <summary>Throws an <see cref="ArgumentException"/> that quotes the value unless it is a valid container name.</summary>
    public static void ThrowIfInvalidContainerName(string? name, string paramName = "container")
    {
        if (!IsValidContainerName(name))
        {
            throw new ArgumentException(
                $"Container name {Quote(name)} is invalid: it must match [a-zA-Z0-9][a-zA-Z0-9_.-]* and be at most {MaxLength} characters.",
                paramName);
        }
    }

    /// <summary>Throws an <see cref="ArgumentException"/> that quotes the value unless it is a valid user or topology id.</summary>
    public static void ThrowIfInvalidId(string? id, string paramName)
    {
        if (!IsValidId(id))
        {
            throw new ArgumentException(
                $"{(paramName.Contains("topology", StringComparison.OrdinalIgnoreCase) ? "Topology" : "User")} id {Quote(id)} is invalid: " +
                $"it must match [a-zA-Z0-9][a-zA-Z0-9_.@-]* and be at most {MaxLength} characters.",
                paramName);
        }
    }

    private static bool IsValid(string? value, SearchValues<char> allowed) =>
        value is { Length: > 0 and <= MaxLength }
        && char.IsAsciiLetterOrDigit(value[0])
        && !value.AsSpan().ContainsAnyExcept(allowed);

    // Quotes with control characters escaped, so the message itself stays one clean line.
    internal static string Quote(string? value)
    {
        if (value is null)
        {
            return "(null)";
        }

        var shown = value.Length > 80 ? string.Concat(value.AsSpan(0, 80), "…") : value;
        return $"'{ControlText.Escape(shown, ControlText.C0C1, ControlText.Unicode)}'{(value.Length > 80 ? $" ({value.Length} characters)" : "")}";
    }
}
