using System.Collections.Immutable;
using System.Text;
using System.Text.Json;

namespace TtydPorts;

/// <summary>
/// A session's command in its marker: base64 of a small JSON object (<c>{"a":[..],"u":..,"w":..,"e":{..}}</c>), so
/// that any byte of an argument survives an environment variable. Read strictly: anything else is no command.
/// Written and read by hand (Utf8JsonWriter, JsonDocument) so that it stays trimmable and AOT-safe.
/// </summary>
internal static class CommandMarkerCodec
{
    public static string Encode(TerminalCommand command)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartArray("a");
            foreach (var argument in command.Arguments)
            {
                json.WriteStringValue(argument);
            }

            json.WriteEndArray();
            if (command.User is not null)
            {
                json.WriteString("u", command.User);
            }

            if (command.WorkingDirectory is not null)
            {
                json.WriteString("w", command.WorkingDirectory);
            }

            if (command.Environment is { Count: > 0 })
            {
                json.WriteStartObject("e");
                foreach (var (name, value) in command.SortedEnvironment())
                {
                    json.WriteString(name, value);
                }

                json.WriteEndObject();
            }

            json.WriteEndObject();
        }

        return Convert.ToBase64String(buffer.ToArray());
    }

    public static TerminalCommand? Decode(string? encoded)
    {
        if (string.IsNullOrEmpty(encoded))
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(Convert.FromBase64String(encoded));
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("a", out var a) || a.ValueKind != JsonValueKind.Array)
            {
                return null;
            }

            var arguments = ImmutableArray.CreateBuilder<string>();
            foreach (var argument in a.EnumerateArray())
            {
                arguments.Add(argument.ValueKind == JsonValueKind.String ? argument.GetString()! : throw new FormatException());
            }

            Dictionary<string, string>? environment = null;
            string? user = null, folder = null;
            foreach (var property in root.EnumerateObject())
            {
                switch (property.Name)
                {
                    case "a":
                        break;
                    case "u" when property.Value.ValueKind == JsonValueKind.String:
                        user = property.Value.GetString();
                        break;
                    case "w" when property.Value.ValueKind == JsonValueKind.String:
                        folder = property.Value.GetString();
                        break;
                    case "e" when property.Value.ValueKind == JsonValueKind.Object:
                        environment = new Dictionary<string, string>(StringComparer.Ordinal);
                        foreach (var variable in property.Value.EnumerateObject())
                        {
                            environment.Add(variable.Name, variable.Value.ValueKind == JsonValueKind.String ? variable.Value.GetString()! : throw new FormatException());
                        }

                        break;
                    default:
                        return null;
                }
            }

            var command = new TerminalCommand { Arguments = arguments.ToImmutable(), User = user, WorkingDirectory = folder, Environment = environment };
            return TerminalCommand.Problem(command) is null ? command : null;
        }
        catch (Exception e) when (e is FormatException or JsonException or ArgumentException)
        {
            return null;
        }
    }
}
