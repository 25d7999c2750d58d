using System.Net;
using System.Net.Sockets;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.Server;

/// <summary>
/// The listening port, bound before anything slow happens (patching every profile can take minutes): "address in
/// use" comes at once, and the port stays ours while the profiles are patched. Released just before Kestrel binds the
/// same port (the one the system chose, when 0 was asked for).
/// </summary>
internal sealed class PortReservation : IDisposable
{
    private readonly Socket _socket;

    private PortReservation(Socket socket, int port)
    {
        _socket = socket;
        Port = port;
    }

    /// <summary>The port reserved (never 0).</summary>
    public int Port { get; }

    public static PortReservation Take(IPAddress address, int port)
    {
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // As Kestrel binds: SO_REUSEADDR, so connections of a previous server still in TIME_WAIT do not block it; and
            // listening, because on Linux only a listening socket keeps others with SO_REUSEADDR off the port.
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(new IPEndPoint(address, port));
            socket.Listen(1);
            return new PortReservation(socket, ((IPEndPoint)socket.LocalEndPoint!).Port);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            var why = e.SocketErrorCode switch
            {
                SocketError.AddressAlreadyInUse => "is already in use (another server is listening there)",
                SocketError.AccessDenied => "needs privileges this process lacks (ports below 1024)",
                SocketError.AddressNotAvailable => "is not an address of this machine",
                _ => $"cannot be bound: {e.Message}",
            };
            var shown = address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{address}]:{port}" : $"{address}:{port}";
            throw new OnnxSteerException($"{Param("port")} {port}: {shown} {why}", e);
        }
    }

    public void Dispose() => _socket.Dispose();
}
