using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace TtydPorts;

/// <summary>
/// Asks the kernel (NETLINK_SOCK_DIAG) for the TCP sockets that listen, IPv4 and IPv6. Only the listening table is
/// walked, so the answer costs the same however many connections the machine has; a filter (the kernel's bytecode,
/// source port at least and at most the port) keeps the other listeners (every other session's ttyd) out of the answer.
/// </summary>
internal static class SockDiag
{
    private const int AfNetlink = 16;
    private const int AfInet = 2;
    private const int AfInet6 = 10;
    private const int SockDgram = 2;
    private const int SockCloexec = 0x80000;
    private const int NetlinkSockDiag = 4;
    private const ushort SockDiagByFamily = 20;
    private const ushort NlmFRequest = 1;
    private const ushort NlmFDump = 0x300;
    private const ushort NlmsgDone = 3;
    private const ushort NlmsgError = 2;
    private const byte IpprotoTcp = 6;
    private const uint TcpListenMask = 1u << 10;
    private const ushort InetDiagReqBytecode = 1;
    private const byte InetDiagBcSGe = 2, InetDiagBcSLe = 3;

    /// <summary>Inodes of the sockets listening on <paramref name="port"/>, or <see langword="null"/> when the kernel would not say.</summary>
    public static HashSet<ulong>? FindListenerInodes(int port)
    {
        using var fd = Native.socket(AfNetlink, SockDgram | SockCloexec, NetlinkSockDiag);
        if (fd.IsInvalid)
        {
            return null;
        }

        var found = new HashSet<ulong>();
        foreach (var family in (ReadOnlySpan<byte>)[AfInet, AfInet6])
        {
            if (!Dump(fd, family, port, found))
            {
                return null;
            }
        }

        return found;
    }

    private static unsafe bool Dump(SafeFd fd, byte family, int port, HashSet<ulong> found)
    {
        // nlmsghdr (16) + inet_diag_req_v2 (56) + nlattr (4) with the filter: two port comparisons of 8 bytes each, an
        // op {code, yes, no} and the port in the next op's "no". A comparison that fails jumps past the end (len + 4):
        // rejected. Both are as old as sock_diag itself (S_EQ came later).
        Span<byte> request = stackalloc byte[92];
        request.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(request, 92);
        BinaryPrimitives.WriteUInt16LittleEndian(request[4..], SockDiagByFamily);
        BinaryPrimitives.WriteUInt16LittleEndian(request[6..], NlmFRequest | NlmFDump);
        BinaryPrimitives.WriteUInt32LittleEndian(request[8..], 1);
        request[16] = family;
        request[17] = IpprotoTcp;
        BinaryPrimitives.WriteUInt32LittleEndian(request[20..], TcpListenMask);
        BinaryPrimitives.WriteUInt16LittleEndian(request[72..], 20);
        BinaryPrimitives.WriteUInt16LittleEndian(request[74..], InetDiagReqBytecode);
        request[76] = InetDiagBcSGe;
        request[77] = 8;
        BinaryPrimitives.WriteUInt16LittleEndian(request[78..], 16 + 4);
        BinaryPrimitives.WriteUInt16LittleEndian(request[82..], (ushort)port);
        request[84] = InetDiagBcSLe;
        request[85] = 8;
        BinaryPrimitives.WriteUInt16LittleEndian(request[86..], 8 + 4);
        BinaryPrimitives.WriteUInt16LittleEndian(request[90..], (ushort)port);
        fixed (byte* raw = request)
        {
            if (Native.Send(fd, raw, (nuint)request.Length, 0) != request.Length)
            {
                return false;
            }
        }

        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            return Receive(fd, buffer, port, found);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static unsafe bool Receive(SafeFd fd, byte[] buffer, int port, HashSet<ulong> found)
    {
        while (true)
        {
            nint received;
            fixed (byte* raw = buffer)
            {
                received = Native.Receive(fd, raw, (nuint)buffer.Length, 0);
            }

            if (received <= 0)
            {
                return false;
            }

            var data = buffer.AsSpan(0, (int)received);
            while (data.Length >= 16)
            {
                var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(data);
                var type = BinaryPrimitives.ReadUInt16LittleEndian(data[4..]);
                if (length < 16 || length > data.Length)
                {
                    return false;
                }

                if (type == NlmsgDone)
                {
                    return true;
                }

                if (type == NlmsgError)
                {
                    return false;
                }

                // inet_diag_msg: family, state, timer, retrans, then the socket id (source port first, big-endian);
                // the inode is at offset 68.
                var message = data[16..length];
                if (message.Length >= 72 && BinaryPrimitives.ReadUInt16BigEndian(message[4..]) == port)
                {
                    found.Add(BinaryPrimitives.ReadUInt32LittleEndian(message[68..]));
                }

                var aligned = (length + 3) & ~3;
                data = aligned >= data.Length ? [] : data[aligned..];
            }
        }
    }
}
