using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Pipeline.Testing;

/// <summary>
/// Free TCP ports on 127.0.0.1: asks the kernel for one (bind to port 0) and releases it, so a
/// server started right after can bind it. A port is handed out at most once per test process.
/// </summary>
public static class FreePort
{
    private static readonly ConcurrentDictionary<int, byte> HandedOut = new();

    /// <summary>A port that was free a moment ago and that this process has not handed out before.</summary>
    public static int Next() => Next(static _ => false);

    /// <summary>Like <see cref="Next()"/>, skipping every port for which <paramref name="avoid"/> is true.</summary>
    public static int Next(Func<int, bool> avoid)
    {
        for (var attempt = 0; attempt < 200; attempt++)
        {
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            listener.Stop();
            if (!avoid(port) && HandedOut.TryAdd(port, 0))
            {
                return port;
            }
        }

        throw new InvalidOperationException("Found no free TCP port on 127.0.0.1.");
    }

    /// <summary>Waits until nothing accepts connections on <paramref name="port"/>; false if something still does after <paramref name="timeout"/>.</summary>
    public static async Task<bool> WaitUntilClosedAsync(int port, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (IsListening(port, 200))
        {
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }

            await Task.Delay(20).ConfigureAwait(false);
        }

        return true;
    }

    /// <summary>True when something accepts TCP connections on 127.0.0.1:<paramref name="port"/>.</summary>
    public static bool IsListening(int port, int timeoutMilliseconds = 1000)
    {
        // A non-blocking connect and a poll: no thread-pool work, so it answers even when the
        // pool is busy with tests running in parallel.
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { Blocking = false };
        try
        {
            client.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress)
        {
            return client.Poll(timeoutMilliseconds * 1000, SelectMode.SelectWrite)
                && (int)client.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error)! == 0;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
