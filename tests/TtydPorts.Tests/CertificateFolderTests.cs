using System.Diagnostics;

namespace TtydPorts.Tests;

/// <summary>
/// The TLS certificates of a remote engine are trusted as the runtime folder is: whoever can replace <c>ca.pem</c> can
/// stand in for the engine, so start-up refuses a certificate folder or file owned by another user, and one below a
/// folder another user can write (also where the folder is reached through a link), naming what is wrong.
/// </summary>
public sealed class CertificateFolderTests : IDisposable
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode Everyone = Private | UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
    private const uint OtherUid = 4242;
    private readonly string _root = Directory.CreateTempSubdirectory("tp-certs-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void A_certificate_folder_below_a_folder_others_can_write_is_refused_also_through_a_link_and_accepted_once_it_is_safe()
    {
        var open = Path.Combine(_root, "open");
        Directory.CreateDirectory(open);
        File.SetUnixFileMode(open, Everyone); // 0777, no sticky bit
        var certs = Certificates(Path.Combine(open, "certs"));
        var link = Path.Combine(_root, "link");
        File.CreateSymbolicLink(link, certs);

        var direct = Problem(certs);
        var throughLink = Problem(link);
        File.SetUnixFileMode(open, Everyone | UnixFileMode.StickyBit); // as /tmp
        var sticky = Problem(certs);
        File.SetUnixFileMode(open, Private);
        var safe = Problem(certs);
        var safeThroughLink = Problem(link);

        Assert.Contains($"the folder '{open}' above it is writable by other users", direct, StringComparison.Ordinal);
        Assert.Contains($"the folder '{open}' above it is writable by other users", throughLink, StringComparison.Ordinal);
        Assert.Null(sticky); // nobody else can move what is ours out of a sticky folder
        Assert.Null(safe);
        Assert.Null(safeThroughLink);
    }

    [Fact]
    public void A_certificate_folder_or_file_another_user_owns_is_refused_naming_its_owner()
    {
        TtydPorts.IntegrationTests.RealParts.RequireRoot("giving a file to another user needs root");
        var certs = Certificates(Path.Combine(_root, "certs"));
        var control = Problem(certs);

        Chown(certs);
        var folderOfAnother = Problem(certs);
        Chown(certs, 0);
        Chown(Path.Combine(certs, "ca.pem"));
        var caOfAnother = Problem(certs);
        Chown(Path.Combine(certs, "ca.pem"), 0);
        var parent = Path.Combine(_root, "parent");
        Directory.CreateDirectory(parent);
        File.SetUnixFileMode(parent, Private);
        var below = Certificates(Path.Combine(parent, "certs"));
        Chown(parent);
        var belowAnother = Problem(below);

        Assert.Null(control);
        Assert.Contains($"the folder '{certs}' above it is owned by uid {OtherUid}", folderOfAnother, StringComparison.Ordinal);
        Assert.Contains($"'{certs}/ca.pem' is owned by uid {OtherUid}, neither root nor this user", caOfAnother, StringComparison.Ordinal);
        Assert.Contains($"the folder '{parent}' above it is owned by uid {OtherUid}", belowAnother, StringComparison.Ordinal);
    }

    private static string? Problem(string folder) =>
        new EngineEndpoint { Uri = "tcp://127.0.0.1:2376", Host = "127.0.0.1", Port = 2376, CertificateFolder = folder }.CertificateProblem();

    private static string Certificates(string folder)
    {
        Directory.CreateDirectory(folder);
        File.SetUnixFileMode(folder, Private);
        foreach (var name in new[] { "ca.pem", "cert.pem", "key.pem" })
        {
            var file = Path.Combine(folder, name);
            File.WriteAllText(file, "x");
            File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        return folder;
    }

    private static void Chown(string path, uint uid = OtherUid)
    {
        using var chown = Process.Start("chown", [uid.ToString(System.Globalization.CultureInfo.InvariantCulture), path])!;
        chown.WaitForExit();
        Assert.Equal(0, chown.ExitCode);
    }
}
