using Relay.Gateway;
using Relay.Gateway.Api;
using Relay.Gateway.Operations;
using Relay.Gateway.Sockets;

var builder = WebApplication.CreateBuilder(args);
builder.UseRelayDefaults();
builder.AddRelayNode();
builder.AddRelayAccessControl();
builder.AddRelayApi();
builder.AddRelayHealthChecks();
builder.AddRelayTelemetry();

// SIGTERM must end the process within 10 s: sockets get 6 s to close, the cluster the rest.
builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromSeconds(9));

var app = builder.Build();
app.UseRelayBootstrapRoute();
app.UseFrameBatching();
app.UseRelayWebSockets();
app.UseOperationsPathsWithoutUpgrades(HealthEndpoints.LivePath, HealthEndpoints.ReadyPath, Telemetry.MetricsPath);
app.MapRelayHealth();
app.MapRelayMetrics();
app.MapRelayApi();
app.MapRelaySocket();
app.Run();

/// <summary>The Gateway's entry point; public so tests can reference the assembly's host.</summary>
public partial class Program;
