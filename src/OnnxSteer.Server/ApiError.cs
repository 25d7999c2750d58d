namespace OnnxSteer.Server;

/// <summary>
/// A request the server refuses, answered with an OpenAI-style error object
/// (<c>{"error": {"message", "type", "param", "code"}}</c>) and the HTTP status.
/// </summary>
public sealed class ApiError(int status, string message, string? param = null, string? code = null, string type = "invalid_request_error")
    : Exception(message)
{
    /// <summary>HTTP status (400 bad input, 401 missing or wrong API key, 404 unknown route, 429/503 busy; see docs/serve.md).</summary>
    public int Status { get; } = status;

    /// <summary>The request field at fault, when there is one.</summary>
    public string? Param { get; } = param;

    /// <summary>A machine-readable code (e.g. <c>profile_not_found</c>).</summary>
    public string? Code { get; } = code;

    /// <summary>OpenAI's error type.</summary>
    public string Type { get; } = type;

    /// <summary>Seconds a client should wait before retrying (the <c>Retry-After</c> header of 429 and 503).</summary>
    public int? RetryAfterSeconds { get; init; }

    /// <summary>Headers the status requires (<c>Allow</c> of a 405, <c>WWW-Authenticate</c> of a 401).</summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();

    /// <summary>Whether the connection must close after the answer (the rest of the request is not read).</summary>
    public bool CloseConnection { get; init; }

    /// <summary>400 for field <paramref name="param"/>.</summary>
    public static ApiError Bad(string message, string? param = null, string? code = null) => new(400, message, param, code);
}
