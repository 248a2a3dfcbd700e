using System.Net.Sockets;
using System.Text;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;
using Pipeline.Testing;

namespace Pipeline.IntegrationTests;

public sealed class SmtpSinkTests : IAsyncLifetime
{
    private SmtpSink _sink = null!;

    public async Task InitializeAsync() => _sink = await SmtpSink.StartNewAsync();

    public async Task DisposeAsync() => await _sink.DisposeAsync();

    [Fact]
    public async Task A_multipart_message_sent_with_MailKit_arrives_parsed_with_headers_and_envelope()
    {
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Pipeline", "digest@pipeline.test"));
        message.To.Add(new MailboxAddress("Ada", "ada@example.org"));
        message.Cc.Add(new MailboxAddress("Bob", "bob@example.org"));
        message.Subject = "Your daily papers: 3 new — ünïcødé";
        message.Headers.Add("X-Pipeline-Digest-Id", "digest-42");
        message.Headers.Add("List-Unsubscribe", "<https://pipeline.test/unsubscribe?t=abc>");
        var body = new BodyBuilder
        {
            TextBody = "1. Attention Is All You Need\n",
            HtmlBody = "<ol><li>Attention Is All You Need</li></ol>",
        };
        body.Attachments.Add("papers.json", Encoding.UTF8.GetBytes("[{\"id\":\"1706.03762\"}]"), ContentType.Parse("application/json"));
        message.Body = body.ToMessageBody();

        await SendAsync(message);

        var received = (await _sink.WaitForMessagesAsync(m => m.Subject?.StartsWith("Your daily papers") == true, 1, TimeSpan.FromSeconds(10))).Single();
        Assert.Equal("Your daily papers: 3 new — ünïcødé", received.Subject);
        Assert.Equal("digest-42", received.Message.Headers["X-Pipeline-Digest-Id"]);
        Assert.Equal("<https://pipeline.test/unsubscribe?t=abc>", received.Message.Headers[HeaderId.ListUnsubscribe]);
        Assert.Equal("digest@pipeline.test", received.EnvelopeFrom);
        Assert.Equal(["ada@example.org", "bob@example.org"], received.EnvelopeTo);
        Assert.Equal("1. Attention Is All You Need", received.Message.TextBody?.Trim());
        Assert.Contains("<li>Attention Is All You Need</li>", received.Message.HtmlBody);
        var attachment = Assert.IsType<MimePart>(Assert.Single(received.Message.Attachments));
        Assert.Equal("papers.json", attachment.FileName);
        using var content = new MemoryStream();
        await attachment.Content!.DecodeToAsync(content);
        Assert.Equal("[{\"id\":\"1706.03762\"}]", Encoding.UTF8.GetString(content.ToArray()));
    }

    [Fact]
    public async Task Waiting_for_more_messages_than_arrive_times_out_and_lists_what_came()
    {
        await SendAsync(Simple("only one", "a@example.org"));

        var error = await Assert.ThrowsAsync<TimeoutException>(() =>
            _sink.WaitForMessagesAsync(_ => true, 2, TimeSpan.FromMilliseconds(500)));
        Assert.Contains("only one", error.Message);
    }

    [Fact]
    public async Task Asserting_quiet_fails_when_another_message_arrives_and_passes_when_none_does()
    {
        await _sink.AssertNoMoreMessagesAsync(TimeSpan.FromMilliseconds(300));

        var quiet = _sink.AssertNoMoreMessagesAsync(TimeSpan.FromSeconds(10));
        await SendAsync(Simple("late duplicate", "a@example.org"));

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => quiet);
        Assert.Contains("late duplicate", error.Message);
    }

    [Fact]
    public async Task A_stopped_sink_refuses_connections_and_receives_again_after_a_restart_on_the_same_port()
    {
        var port = _sink.Port;
        await _sink.StopAsync();

        Assert.False(_sink.IsRunning);
        Assert.False(FreePort.IsListening(port));
        await Assert.ThrowsAnyAsync<SocketException>(() => SendAsync(Simple("during outage", "a@example.org")));

        await _sink.StartAsync();

        Assert.Equal(port, _sink.Port);
        await SendAsync(Simple("after outage", "a@example.org"));
        await _sink.WaitForMessageAsync(m => m.Subject == "after outage", TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Stopping_cuts_a_connected_client_off()
    {
        using var client = new SmtpClient();
        await client.ConnectAsync(_sink.Host, _sink.Port, SecureSocketOptions.None);

        await _sink.StopAsync();

        await Assert.ThrowsAnyAsync<Exception>(() => client.SendAsync(Simple("cut off", "a@example.org")));
        Assert.Empty(_sink.Messages);
    }

    [Fact]
    public async Task A_paused_sink_greets_but_does_not_answer_until_resumed()
    {
        _sink.Pause();
        using (var client = new SmtpClient { Timeout = 1_000 })
        {
            await client.ConnectAsync(_sink.Host, _sink.Port, SecureSocketOptions.None);
            await Assert.ThrowsAnyAsync<Exception>(() => client.SendAsync(Simple("while hung", "a@example.org")));
        }

        _sink.Resume();

        await SendAsync(Simple("after the hang", "a@example.org"));
        var received = await _sink.WaitForMessageAsync(_ => true, TimeSpan.FromSeconds(10));
        Assert.Equal("after the hang", received.Subject);
    }

    [Theory]
    [InlineData(450, SmtpStatusCode.MailboxBusy)]
    [InlineData(550, SmtpStatusCode.MailboxUnavailable)]
    public async Task A_rejected_recipient_gets_the_chosen_reply_code_until_rejections_are_cleared(int code, SmtpStatusCode expected)
    {
        _sink.RejectRecipient("bounce@example.org", code);

        var error = await Assert.ThrowsAsync<SmtpCommandException>(() => SendAsync(Simple("rejected", "bounce@example.org")));
        Assert.Equal(expected, error.StatusCode);
        Assert.Equal(SmtpErrorCode.RecipientNotAccepted, error.ErrorCode);
        Assert.Equal(code, Assert.Single(_sink.Rejected.Snapshot()).ReplyCode);

        await SendAsync(Simple("accepted", "other@example.org"));
        _sink.ClearRejections();
        await SendAsync(Simple("accepted now", "bounce@example.org"));

        var received = await _sink.WaitForMessagesAsync(_ => true, 2, TimeSpan.FromSeconds(10));
        Assert.Equal(["accepted", "accepted now"], received.Select(r => r.Subject));
    }

    [Fact]
    public async Task Rejected_messages_get_the_chosen_reply_code_at_the_end_of_data()
    {
        _sink.RejectMessages(451, m => m.Subject?.Contains("flaky") == true);

        var error = await Assert.ThrowsAsync<SmtpCommandException>(() => SendAsync(Simple("flaky one", "a@example.org")));
        Assert.Equal(451, (int)error.StatusCode);
        Assert.Equal(SmtpErrorCode.MessageNotAccepted, error.ErrorCode);

        await SendAsync(Simple("solid one", "a@example.org"));
        var received = await _sink.WaitForMessageAsync(_ => true, TimeSpan.FromSeconds(10));
        Assert.Equal("solid one", received.Subject);
        Assert.Single(_sink.Messages);
    }

    private static MimeMessage Simple(string subject, string to)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("digest@pipeline.test"));
        message.To.Add(MailboxAddress.Parse(to));
        message.Subject = subject;
        message.Body = new TextPart("plain") { Text = subject };
        return message;
    }

    private async Task SendAsync(MimeMessage message)
    {
        using var client = new SmtpClient { Timeout = 10_000 };
        await client.ConnectAsync(_sink.Host, _sink.Port, SecureSocketOptions.None);
        await client.SendAsync(message);
        await client.DisconnectAsync(true);
    }
}
