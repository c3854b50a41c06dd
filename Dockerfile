# Relay gateway image. Build: docker build -t relay .   Run three with Postgres and nginx: docker-compose up
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
# Restore first, from the project files only, so code changes reuse the cached packages layer.
COPY Directory.Build.props Directory.Packages.props akka.hocon ./
COPY src/Actors/Relay.Actors.csproj src/Actors/
COPY src/Gateway/Relay.Gateway.csproj src/Gateway/
RUN dotnet restore src/Gateway/Relay.Gateway.csproj
COPY src/ src/
RUN dotnet publish src/Gateway/Relay.Gateway.csproj -c Release --no-restore -o /app

FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /app ./
# Run alone (no Relay__Journal__... settings), a node journals to SQLite in data/; the app user must own it.
RUN mkdir -p /app/data && chown "$APP_UID" /app/data
VOLUME /app/data
# HTTP/WebSocket and Akka.Remote. Everything else comes from Relay__... environment variables.
ENV ASPNETCORE_URLS=http://+:5001 \
    Relay__Akka__Port=4053
EXPOSE 5001 4053
USER $APP_UID
ENTRYPOINT ["dotnet", "Relay.Gateway.dll"]
