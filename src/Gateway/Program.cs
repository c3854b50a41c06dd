using Relay.Gateway;
using Relay.Gateway.Sockets;

var builder = WebApplication.CreateBuilder(args);
builder.UseRelayDefaults();
builder.AddRelayNode();

var app = builder.Build();
app.UseFrameBatching();
app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.FromSeconds(30) });
app.MapRelaySocket();
app.Run();

/// <summary>The Gateway's entry point; public so tests can reference the assembly's host.</summary>
public partial class Program;
