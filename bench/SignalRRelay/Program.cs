using System.Net;
using Microsoft.AspNetCore.Http.Connections;
using Relay.Bench.SignalRRelay;

// A relay as a C# team would write it with ASP.NET Core SignalR (the bench's second reference, BENCHMARKS.md):
// one hub, the history in memory, JSON protocol over WebSockets only, on 127.0.0.1:Port (`--Port=5402`).
var builder = WebApplication.CreateBuilder(args);
var port = builder.Configuration.GetValue("Port", 5002);
builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port));
builder.Services.AddSingleton<PatchLog>();

// Relay's default limit on a message; SignalR's own default (32 KB) would refuse larger patches.
builder.Services.AddSignalR(hub => hub.MaximumReceiveMessageSize = 1024 * 1024);

var app = builder.Build();
app.MapGet("/", () => "signalr relay");
app.MapHub<RelayHub>(RelayHub.Path, connection => connection.Transports = HttpTransportType.WebSockets);
app.Run();
