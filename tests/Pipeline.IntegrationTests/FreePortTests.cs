using System.Net;
using System.Net.Sockets;
using Pipeline.Testing;

namespace Pipeline.IntegrationTests;

public sealed class FreePortTests
{
    [Fact]
    public void A_free_port_can_be_bound_and_is_not_handed_out_twice()
    {
        var ports = Enumerable.Range(0, 20).Select(_ => FreePort.Next()).ToList();

        Assert.Equal(ports.Count, ports.Distinct().Count());
        var listener = new TcpListener(IPAddress.Loopback, ports[0]);
        listener.Start();
        try
        {
            Assert.True(FreePort.IsListening(ports[0]));
        }
        finally
        {
            listener.Stop();
        }

        Assert.False(FreePort.IsListening(ports[0]));
    }
}
