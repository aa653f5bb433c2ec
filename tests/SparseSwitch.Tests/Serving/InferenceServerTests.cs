using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using SparseSwitch.Serving;
using Xunit;

namespace SparseSwitch.Tests.Serving;

/// <summary>The HTTP server in process on 127.0.0.1 (any free port), serving the fixture's small
/// model with its synthetic latency table.</summary>
public sealed class InferenceServerTests : IClassFixture<InferenceServerTests.Running>
{
    /// <summary>One adaptive server shared by the tests that only send requests.</summary>
    public sealed class Running : IAsyncLifetime
    {
        public InferenceServer Server { get; private set; } = null!;
        public HttpClient Client { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            (Server, Client) = await StartAsync(ServingFixture.Options() with { MaxBodyBytes = 64 * 1024 });
        }

        public async Task DisposeAsync()
        {
            Client.Dispose();
            await Server.DisposeAsync();
        }
    }

    private readonly Running _r;
    public InferenceServerTests(Running r) => _r = r;

    private static async Task<(InferenceServer, HttpClient)> StartAsync(ServerOptions options)
    {
        var server = new InferenceServer(ServingFixture.Artifact, options);
        await server.StartAsync();
        await server.Ready.WaitAsync(TimeSpan.FromSeconds(60));
        return (server, new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(60) });
    }

    private static string Json(float[] x, int images, string extra = "")
    {
        var sb = new StringBuilder("{\"inputs\": [");
        for (int i = 0; i < images; i++)
        {
            if (i > 0) sb.Append(',');
            sb.Append('[').AppendJoin(',', x.Skip(i * ServingFixture.Image).Take(ServingFixture.Image).Select(v => v.ToString("R", CultureInfo.InvariantCulture))).Append(']');
        }
        return sb.Append(']').Append(extra).Append('}').ToString();
    }

    private static StringContent JsonContent(string body) => new(body, Encoding.UTF8, "application/json");

    private static ByteArrayContent RawContent(float[] x, string? shape)
    {
        var c = new ByteArrayContent(MemoryMarshal.AsBytes(x.AsSpan()).ToArray());
        c.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        if (shape is not null) c.Headers.Add("X-Shape", shape);
        return c;
    }

    private static async Task<(HttpStatusCode Code, JsonElement Body, HttpResponseMessage Response)> Send(HttpClient client, HttpContent content, string path = "v1/predict")
    {
        var response = await client.PostAsync(path, content);
        string text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, JsonDocument.Parse(text).RootElement.Clone(), response);
    }

    private static void AssertLogits(JsonElement body, float[] x, int subnet)
    {
        var expected = ServingFixture.Expected(subnet, x);
        var outputs = body.GetProperty("outputs");
        Assert.Equal(x.Length / ServingFixture.Image, outputs.GetArrayLength());
        for (int i = 0; i < outputs.GetArrayLength(); i++)
        {
            var logits = outputs[i].GetProperty("logits").EnumerateArray().Select(e => e.GetSingle()).ToArray();
            Assert.Equal(ServingFixture.Classes, logits.Length);
            for (int c = 0; c < logits.Length; c++)
            {
                float e = expected[i * ServingFixture.Classes + c];
                Assert.True(Math.Abs(logits[c] - e) <= 1e-4f + 1e-4f * Math.Abs(e), $"image {i} class {c}: {logits[c]} vs {e}");
            }
            int best = Enumerable.Range(0, ServingFixture.Classes).MaxBy(c => expected[i * ServingFixture.Classes + c]);
            Assert.Equal(best, outputs[i].GetProperty("class").GetInt32());
            Assert.Equal($"class-{best}", outputs[i].GetProperty("label").GetString());
        }
    }

    [Fact]
    public async Task JsonAndRawPredictionsAreTheCompiledModelsLogits()
    {
        var x = ServingFixture.Images(3, 1);
        var (code, body, _) = await Send(_r.Client, JsonContent(Json(x, 3)));
        Assert.Equal(HttpStatusCode.OK, code);
        Assert.Equal(0, body.GetProperty("subnet").GetInt32()); // the generous objective leaves the most accurate
        Assert.Equal("0.5", body.GetProperty("spec").GetString());
        Assert.True(body.GetProperty("latency_ms").GetDouble() >= body.GetProperty("service_ms").GetDouble());
        AssertLogits(body, x, 0);

        // One flat list of two images.
        var x2 = ServingFixture.Images(2, 2);
        string flat = "{\"inputs\": [" + string.Join(',', x2.Select(v => v.ToString("R", CultureInfo.InvariantCulture))) + "]}";
        (code, body, _) = await Send(_r.Client, JsonContent(flat));
        Assert.Equal(HttpStatusCode.OK, code);
        AssertLogits(body, x2, 0);

        // Raw float32, N,C,H,W and C,H,W.
        (code, body, _) = await Send(_r.Client, RawContent(x, "3,1,8,8"));
        Assert.Equal(HttpStatusCode.OK, code);
        AssertLogits(body, x, 0);
        var one = x.AsSpan(0, ServingFixture.Image).ToArray();
        (code, body, _) = await Send(_r.Client, RawContent(one, "1, 8, 8"));
        Assert.Equal(HttpStatusCode.OK, code);
        AssertLogits(body, one, 0);
    }

    [Fact]
    public async Task TopKListsTheLargestLogitsInOrder()
    {
        var x = ServingFixture.Images(1, 3);
        var (code, body, _) = await Send(_r.Client, JsonContent(Json(x, 1, ", \"top_k\": 3")));
        Assert.Equal(HttpStatusCode.OK, code);
        var expected = ServingFixture.Expected(0, x);
        var order = Enumerable.Range(0, ServingFixture.Classes).OrderByDescending(c => expected[c]).Take(3).ToArray();
        var top = body.GetProperty("outputs")[0].GetProperty("top_k").EnumerateArray().Select(e => e.GetProperty("class").GetInt32()).ToArray();
        Assert.Equal(order, top);
        Assert.False(body.GetProperty("outputs")[0].TryGetProperty("logits", out _));
    }

    [Fact]
    public async Task ARequestMayPinASubnetByIndexOrSpecInBodyQueryOrHeader()
    {
        var x = ServingFixture.Images(2, 4);
        var (code, body, _) = await Send(_r.Client, JsonContent(Json(x, 2, ", \"subnet\": 2")));
        Assert.Equal(HttpStatusCode.OK, code);
        Assert.Equal(2, body.GetProperty("subnet").GetInt32());
        AssertLogits(body, x, 2);
        (code, body, _) = await Send(_r.Client, JsonContent(Json(x, 2)), "v1/predict?subnet=0.2");
        Assert.Equal(1, body.GetProperty("subnet").GetInt32());
        AssertLogits(body, x, 1);
        var content = RawContent(x, "2,1,8,8");
        content.Headers.Add("X-Subnet", "2");
        (code, body, _) = await Send(_r.Client, content);
        Assert.Equal(HttpStatusCode.OK, code);
        Assert.Equal(2, body.GetProperty("subnet").GetInt32());
        AssertLogits(body, x, 2);
    }

    [Fact]
    public async Task APerRequestBudgetPicksTheMostAccurateSubnetThatFitsWhatIsLeft()
    {
        // The synthetic table: one image takes 40, 20 and 10 ms on sub-nets 0, 1, 2.
        var x = ServingFixture.Images(1, 5);
        foreach (double budget in new[] { 1000.0, 38, 25 })
        {
            var (code, body, _) = await Send(_r.Client, JsonContent(Json(x, 1, $", \"budget_ms\": {budget.ToString(CultureInfo.InvariantCulture)}")));
            Assert.Equal(HttpStatusCode.OK, code);
            double left = budget - body.GetProperty("queue_ms").GetDouble();
            int expected = left >= 40 ? 0 : left >= 20 ? 1 : 2;
            Assert.Equal(expected, body.GetProperty("subnet").GetInt32());
        }
        // A budget that not even the fastest sub-net can meet is refused at once, with Retry-After.
        var (c2, b2, r2) = await Send(_r.Client, JsonContent(Json(x, 1)), "v1/predict?budget_ms=5");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, c2);
        Assert.Contains("cannot answer within 5 ms", b2.GetProperty("error").GetString());
        Assert.True(r2.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));
    }

    private static readonly string Zeros = "[" + string.Join(',', Enumerable.Repeat("0", ServingFixture.Image)) + "]";

    public static TheoryData<string, string, string> JsonCases => new()
    {
        { "truncated JSON", "{\"inputs\": [[1, 2,", "malformed JSON" },
        { "not an object", "[1, 2]", "must be a JSON object" },
        { "empty body", "", "empty" },
        { "no inputs", "{}", "no \"inputs\"" },
        { "empty inputs", "{\"inputs\": []}", "is empty" },
        { "short image", "{\"inputs\": [[1, 2, 3]]}", "input 0 has 3 values" },
        { "long image", "{\"inputs\": [[" + string.Join(',', Enumerable.Repeat("0", 65)) + "]]}", "more than 64 values" },
        { "flat, not whole images", "{\"inputs\": [1, 2, 3]}", "not a whole number of images" },
        { "a string value", "{\"inputs\": [[\"a\"]]}", "expected a number, found a string" },
        { "beyond float32", "{\"inputs\": [[1e39]]}", "not a finite float32" },
        { "nested too deep", "{\"inputs\": [[[1]]]}", "expected a number, found a list" },
        { "unknown field", "{\"inputs\": [" + Zeros + "], \"input\": 1}", "unknown field \"input\"" },
        { "inputs not a list", "{\"inputs\": 3}", "must be a list" },
        { "trailing content", "{\"inputs\": [" + Zeros + "]} x", "malformed JSON" },
        { "bad subnet", "{\"inputs\": [" + Zeros + "], \"subnet\": 7}", "subnet '7'" },
        { "bad subnet spec", "{\"inputs\": [" + Zeros + "], \"subnet\": \"0.3\"}", "subnet '0.3'" },
        { "negative budget", "{\"inputs\": [" + Zeros + "], \"budget_ms\": -1}", "budget_ms must be a positive" },
        { "budget as text", "{\"inputs\": [" + Zeros + "], \"budget_ms\": \"5\"}", "\"budget_ms\" must be a number" },
        { "top_k zero", "{\"inputs\": [" + Zeros + "], \"top_k\": 0}", "top_k must be 1 … 10" },
        { "too many images", "{\"inputs\": [" + string.Join(',', Enumerable.Repeat(Zeros, 65)) + "]}", "more than 64 images" },
    };

    [Theory]
    [MemberData(nameof(JsonCases))]
    public async Task MalformedJsonIsA400WithAMessage(string what, string body, string says)
    {
        var (code, json, _) = await Send(_r.Client, JsonContent(body));
        Assert.True(code == HttpStatusCode.BadRequest, $"{what}: {code} {json}");
        Assert.True(json.GetProperty("error").GetString()!.Contains(says, StringComparison.Ordinal), $"{what}: {json}");
        // The server stays up.
        var (ok, _, _) = await Send(_r.Client, JsonContent("{\"inputs\": [" + Zeros + "]}"));
        Assert.Equal(HttpStatusCode.OK, ok);
    }

    [Fact]
    public async Task MalformedRawBodiesAndContentTypesAreA400WithAMessage()
    {
        var x = ServingFixture.Images(2, 6);
        var cases = new List<(string What, HttpContent Content, string Says)>
        {
            ("no shape", RawContent(x, null), "X-Shape"),
            ("wrong image shape", RawContent(x, "2,3,8,8"), "the model takes 1×8×8"),
            ("shape not numbers", RawContent(x, "2,1,eight,8"), "not a list of positive integers"),
            ("two dimensions", RawContent(x, "8,8"), "has 2 dimensions"),
            ("length differs", RawContent(x, "3,1,8,8"), "needs 768"),
        };
        var nan = (float[])x.Clone();
        nan[70] = float.NaN;
        cases.Add(("NaN", RawContent(nan, "2,1,8,8"), "input 1, value 6 is NaN"));
        var inf = (float[])x.Clone();
        inf[3] = float.NegativeInfinity;
        cases.Add(("-Inf", RawContent(inf, "2,1,8,8"), "input 0, value 3 is -Infinity"));
        cases.Add(("text/plain", new StringContent("{\"inputs\": [[1]]}", Encoding.UTF8, "text/plain"), "unsupported content type 'text/plain"));
        var none = new ByteArrayContent(Encoding.UTF8.GetBytes("{}"));
        cases.Add(("no content type", none, "unsupported content type '(none)'"));
        foreach (var (what, content, says) in cases)
        {
            var (code, json, _) = await Send(_r.Client, content);
            Assert.True(code == HttpStatusCode.BadRequest, $"{what}: {code} {json}");
            Assert.True(json.GetProperty("error").GetString()!.Contains(says, StringComparison.Ordinal), $"{what}: {json}");
        }
    }

    [Fact]
    public async Task ABodyOverTheLimitIsA413AndTheServerStaysUp()
    {
        // The shared server takes at most 64 KiB.
        string big = "{\"inputs\": [" + Zeros + "]" + new string(' ', 70_000) + "}";
        Assert.True(Encoding.UTF8.GetByteCount(big) > 64 * 1024);
        var (code, json, _) = await Send(_r.Client, JsonContent(big));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, code);
        Assert.Contains("exceeds the limit of 65536 bytes", json.GetProperty("error").GetString());
        // Without a Content-Length (chunked), the limit holds as the body is read.
        var chunked = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(big)));
        chunked.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        var request = new HttpRequestMessage(HttpMethod.Post, "v1/predict") { Content = chunked };
        request.Headers.TransferEncodingChunked = true;
        var response = await _r.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        var (ok, _, _) = await Send(_r.Client, JsonContent("{\"inputs\": [" + Zeros + "]}"));
        Assert.Equal(HttpStatusCode.OK, ok);
    }

    [Fact]
    public async Task ModelHealthAndReadinessEndpointsDescribeTheServer()
    {
        Assert.Equal(HttpStatusCode.OK, (await _r.Client.GetAsync("healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _r.Client.GetAsync("readyz")).StatusCode);
        var model = JsonDocument.Parse(await _r.Client.GetStringAsync("v1/model")).RootElement;
        Assert.Equal("mlp", model.GetProperty("architecture").GetString());
        Assert.Equal(64, model.GetProperty("input").GetProperty("values_per_image").GetInt32());
        var subnets = model.GetProperty("subnets");
        Assert.Equal(3, subnets.GetArrayLength());
        for (int k = 0; k < 3; k++) Assert.Equal(ServingFixture.Accuracy[k], subnets[k].GetProperty("accuracy").GetDouble());
        Assert.Equal("given", model.GetProperty("latency").GetProperty("source").GetString());
        Assert.Equal(6, model.GetProperty("latency").GetProperty("entries").GetArrayLength());
        Assert.Equal(0, model.GetProperty("controller").GetProperty("current").GetInt32());
        Assert.Equal(HttpStatusCode.NotFound, (await _r.Client.GetAsync("v2/predict")).StatusCode);
    }

    [Fact]
    public async Task APinnedServerServesItsSubnetUnlessARequestNamesAnother()
    {
        var (server, client) = await StartAsync(ServingFixture.Options() with { Pin = 1 });
        await using (server)
        using (client)
        {
            var x = ServingFixture.Images(1, 7);
            var (code, body, _) = await Send(client, JsonContent(Json(x, 1)));
            Assert.Equal(HttpStatusCode.OK, code);
            Assert.Equal(1, body.GetProperty("subnet").GetInt32());
            AssertLogits(body, x, 1);
            (_, body, _) = await Send(client, JsonContent(Json(x, 1, ", \"subnet\": 0")));
            Assert.Equal(0, body.GetProperty("subnet").GetInt32());
            var model = JsonDocument.Parse(await client.GetStringAsync("v1/model")).RootElement;
            Assert.Equal(1, model.GetProperty("pin").GetInt32());
        }
    }

    [Fact]
    public async Task PastTheQueueBoundRequestsAreRefusedAtOnceWithRetryAfter()
    {
        GatedRunner? gate = null;
        var options = ServingFixture.Options() with
        {
            QueueBound = 2, MaxBatch = 1,
            WrapRunner = r => gate = new GatedRunner(r),
        };
        var (server, client) = await StartAsync(options);
        await using (server)
        using (client)
        {
            gate!.Gate.Reset();
            int warm = gate.Entered; // the warm-up's runs
            var body = "{\"inputs\": [" + Zeros + "]}";
            var first = Send(client, JsonContent(body));
            await WaitUntil(() => gate.Entered == warm + 1);             // the worker holds the first
            var queued = new[] { Send(client, JsonContent(body)), Send(client, JsonContent(body)) };
            await WaitUntil(() => server.Batcher!.QueuedRequests == 2);
            var (code, json, response) = await Send(client, JsonContent(body));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, code);
            Assert.Contains("the queue is full (2 requests waiting)", json.GetProperty("error").GetString());
            Assert.True(response.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));
            gate.Gate.Set();
            foreach (var t in queued.Prepend(first)) Assert.Equal(HttpStatusCode.OK, (await t).Code);

            var metrics = PrometheusText.Parse(await client.GetStringAsync("metrics"));
            Assert.Equal(1, metrics.Value("sparseswitch_refused_total", ("reason", "queue_full")));
            Assert.Equal(1, metrics.Value("sparseswitch_http_requests_total", ("endpoint", "/v1/predict"), ("code", "503")));
            Assert.Equal(3, metrics.Value("sparseswitch_http_requests_total", ("endpoint", "/v1/predict"), ("code", "200")));
        }
    }

    [Fact]
    public async Task StoppingAnswersEveryQueuedRequestBeforeItCompletes()
    {
        GatedRunner? gate = null;
        var options = ServingFixture.Options() with { MaxBatch = 1, QueueBound = 16, WrapRunner = r => gate = new GatedRunner(r) };
        var (server, client) = await StartAsync(options);
        using (client)
        {
            gate!.Gate.Reset();
            int warm = gate.Entered;
            var x = ServingFixture.Images(6, 8);
            var sent = Enumerable.Range(0, 6).Select(i => Send(client, JsonContent(Json(x.AsSpan(i * ServingFixture.Image, ServingFixture.Image).ToArray(), 1)))).ToArray();
            await WaitUntil(() => gate.Entered == warm + 1 && server.Batcher!.QueuedRequests == 5);
            var stop = server.StopAsync();
            await Task.Delay(100);
            Assert.False(stop.IsCompleted); // five requests still wait behind the held one
            gate.Gate.Set();
            await stop.WaitAsync(TimeSpan.FromSeconds(30));
            for (int i = 0; i < 6; i++)
            {
                var (code, body, _) = await sent[i];
                Assert.Equal(HttpStatusCode.OK, code);
                AssertLogits(body, x.AsSpan(i * ServingFixture.Image, ServingFixture.Image).ToArray(), 0);
            }
            Assert.Equal(6 + 6, server.Answered); // and the six warm-up requests
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task MetricsParseAsPrometheusTextWithTheExpectedSeries()
    {
        var (server, client) = await StartAsync(ServingFixture.Options() with { MaxBatch = 4 });
        await using (server)
        using (client)
        {
            var x = ServingFixture.Images(2, 9);
            for (int i = 0; i < 3; i++) Assert.Equal(HttpStatusCode.OK, (await Send(client, JsonContent(Json(x, 2)))).Code);
            Assert.Equal(HttpStatusCode.OK, (await Send(client, JsonContent(Json(x, 2, ", \"subnet\": 2")))).Code);
            Assert.Equal(HttpStatusCode.BadRequest, (await Send(client, JsonContent("{"))).Code);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await Send(client, JsonContent(Json(x, 1, ", \"budget_ms\": 1")))).Code);
            await client.GetAsync("healthz");

            var response = await client.GetAsync("metrics");
            Assert.StartsWith("text/plain", response.Content.Headers.ContentType!.ToString());
            var m = PrometheusText.Parse(await response.Content.ReadAsStringAsync());
            Assert.Equal("counter", m.Types["sparseswitch_http_requests_total"]);
            Assert.Equal(4, m.Value("sparseswitch_http_requests_total", ("endpoint", "/v1/predict"), ("code", "200")));
            Assert.Equal(1, m.Value("sparseswitch_http_requests_total", ("endpoint", "/v1/predict"), ("code", "400")));
            Assert.Equal(1, m.Value("sparseswitch_http_requests_total", ("endpoint", "/v1/predict"), ("code", "503")));
            Assert.Equal(1, m.Value("sparseswitch_http_requests_total", ("endpoint", "/healthz"), ("code", "200")));
            Assert.Equal(1, m.Value("sparseswitch_refused_total", ("reason", "deadline")));

            Assert.Equal("histogram", m.Types["sparseswitch_request_duration_seconds"]);
            Assert.Equal(3, m.Value("sparseswitch_request_duration_seconds_count", ("subnet", "0")));
            Assert.Equal(0, m.Value("sparseswitch_request_duration_seconds_count", ("subnet", "1")));
            Assert.Equal(1, m.Value("sparseswitch_request_duration_seconds_count", ("subnet", "2")));
            Assert.Equal(6, m.Value("sparseswitch_images_total", ("subnet", "0")));
            Assert.Equal(2, m.Value("sparseswitch_images_total", ("subnet", "2")));
            foreach (var k in new[] { "0", "1", "2" })
            {
                var buckets = m.Samples.Where(s => s.Name == "sparseswitch_request_duration_seconds_bucket" && s.Labels["subnet"] == k)
                    .Select(s => (Le: s.Labels["le"] == "+Inf" ? double.PositiveInfinity : double.Parse(s.Labels["le"], CultureInfo.InvariantCulture), s.Value))
                    .OrderBy(b => b.Le).ToList();
                Assert.True(buckets.Count > 10);
                Assert.True(buckets.Zip(buckets.Skip(1)).All(p => p.First.Value <= p.Second.Value), "buckets are cumulative");
                Assert.Equal(m.Value("sparseswitch_request_duration_seconds_count", ("subnet", k)), buckets[^1].Value);
            }
            Assert.Equal("histogram", m.Types["sparseswitch_batch_size"]);
            Assert.Equal(4, m.Value("sparseswitch_batch_size_count"));
            Assert.Equal(8, m.Value("sparseswitch_batch_size_sum"));
            Assert.Equal(0, m.Value("sparseswitch_current_subnet"));
            Assert.Equal("gauge", m.Types["sparseswitch_queue_depth"]);
            Assert.Equal(0, m.Value("sparseswitch_queue_depth"));
            Assert.Equal(1, m.Value("sparseswitch_ready"));
            Assert.Equal(60, m.Value("sparseswitch_objective_seconds"));
            Assert.True(m.Value("process_working_set_bytes") > 0);
            Assert.True(m.Value("process_num_threads") > 0);
        }
    }

    [Fact]
    public void ThePrometheusParserRefusesMalformedText()
    {
        Assert.Throws<FormatException>(() => PrometheusText.Parse("x 1\n"));                                 // no TYPE
        Assert.Throws<FormatException>(() => PrometheusText.Parse("# TYPE x gauge\nx{a=\"1} 1\n"));          // unterminated
        Assert.Throws<FormatException>(() => PrometheusText.Parse("# TYPE x gauge\nx 1\nx 2\n"));            // duplicate series
        Assert.Throws<FormatException>(() => PrometheusText.Parse("# TYPE x gauge\nx one\n"));               // bad value
        Assert.Throws<FormatException>(() => PrometheusText.Parse("# TYPE x gauge\nx{a=\"1\",a=\"2\"} 1\n")); // duplicate label
        var ok = PrometheusText.Parse("# HELP x a \"gauge\"\n# TYPE x gauge\nx{a=\"q\\\"\\\\\\n\"} +Inf 17\n");
        Assert.Equal("q\"\\\n", ok.Samples.Single().Labels["a"]);
        Assert.Equal(double.PositiveInfinity, ok.Value("x"));
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        var until = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            if (DateTime.UtcNow > until) throw new TimeoutException("the condition never held.");
            await Task.Delay(5);
        }
    }
}
