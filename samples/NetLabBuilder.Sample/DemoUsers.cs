using System.Security.Cryptography;
using System.Text;

namespace NetLabBuilder.Sample;

/// <summary>A demo account: a student owns topologies; the instructor sees every student's and may watch their terminals.</summary>
public sealed record DemoUser(string Name, string Role, string Password);

/// <summary>
/// The sample's accounts: two students and an instructor, each with a random password made at every start (printed by
/// <c>Program</c>, never stored in the repository), so a sample left running is not open to whoever knows a default.
/// </summary>
public sealed class DemoUsers
{
    public const string Student = "student";
    public const string Instructor = "instructor";

    // Unambiguous characters: a password read off a terminal is typed right the first time.
    private const string Alphabet = "abcdefghijkmnpqrstuvwxyz23456789";

    public IReadOnlyList<DemoUser> All { get; } =
        [.. new[] { ("alice", Student), ("bob", Student), ("instructor", Instructor) }
            .Select(a => new DemoUser(a.Item1, a.Item2, RandomNumberGenerator.GetString(Alphabet, 12)))];

    /// <summary>The account whose name and password match, compared in constant time; null otherwise.</summary>
    public DemoUser? Check(string name, string password)
    {
        var user = All.FirstOrDefault(u => u.Name == name);
        var expected = Encoding.UTF8.GetBytes(user?.Password ?? "\0no such user\0");
        var given = Encoding.UTF8.GetBytes(password);
        return CryptographicOperations.FixedTimeEquals(expected, given) && user is not null ? user : null;
    }
}
